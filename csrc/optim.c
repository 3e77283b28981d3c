/* optim.c - optimizer updates, in place, one pass over each parameter. */
#include "pynn.h"
#include "internal.h"

#include <math.h>

/* The update loops are compiled per instruction set (PYNN_PER_LEVEL): they
 * run over every parameter each step. */
static inline __attribute__((always_inline)) void
sgd_body(float *w, const float *g, float *v, float lr, float momentum, int nesterov,
         ptrdiff_t i0, ptrdiff_t i1)
{
    if (v == NULL) {
        for (ptrdiff_t i = i0; i < i1; i++) w[i] -= lr * g[i];
    } else if (nesterov) {
        for (ptrdiff_t i = i0; i < i1; i++) {
            float vi = momentum * v[i] - lr * g[i];
            v[i] = vi;
            w[i] += momentum * vi - lr * g[i];
        }
    } else {
        for (ptrdiff_t i = i0; i < i1; i++) {
            float vi = momentum * v[i] - lr * g[i];
            v[i] = vi;
            w[i] += vi;
        }
    }
}

PYNN_PER_LEVEL(static, sgd_range, sgd_body,
               (float *w, const float *g, float *v, float lr, float momentum, int nesterov,
                ptrdiff_t i0, ptrdiff_t i1),
               (w, g, v, lr, momentum, nesterov, i0, i1))

void pynn_sgd_update(float *w, const float *g, float *v, ptrdiff_t n,
                     float lr, float momentum, int nesterov)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(n);
    if (momentum == 0.0f)
        v = NULL;
    PYNN_PARALLEL_RANGE(nt, n, sgd_range(w, g, v, lr, momentum, nesterov, lo, hi));
}

/* Keras 3's rule: the epsilon goes under the square root.  m (momentum)
 * and mg (the centered variant's mean gradient) may be NULL. */
static inline __attribute__((always_inline)) void
rmsprop_body(float *w, const float *g, float *s, float *m, float *mg, float lr, float rho,
             float momentum, float eps, ptrdiff_t i0, ptrdiff_t i1)
{
    float a = 1.0f - rho;
    for (ptrdiff_t i = i0; i < i1; i++) {
        float gi = g[i];
        float si = rho * s[i] + a * gi * gi;
        s[i] = si;
        float denom = si + eps;
        if (mg) {
            float mgi = rho * mg[i] + a * gi;
            mg[i] = mgi;
            denom -= mgi * mgi;
        }
        float step = lr * gi / sqrtf(denom);
        if (m) {
            step += momentum * m[i];
            m[i] = step;
        }
        w[i] -= step;
    }
}

PYNN_PER_LEVEL(static, rmsprop_range, rmsprop_body,
               (float *w, const float *g, float *s, float *m, float *mg, float lr, float rho,
                float momentum, float eps, ptrdiff_t i0, ptrdiff_t i1),
               (w, g, s, m, mg, lr, rho, momentum, eps, i0, i1))

void pynn_rmsprop_update(float *w, const float *g, float *s, float *m, float *mg, ptrdiff_t n,
                         float lr, float rho, float momentum, float eps)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(n * 4);
    PYNN_PARALLEL_RANGE(nt, n, rmsprop_range(w, g, s, m, mg, lr, rho, momentum, eps, lo, hi));
}

static inline __attribute__((always_inline)) void
adam_body(float *w, const float *g, float *m, float *v, float alpha, float beta1, float beta2,
          float eps, ptrdiff_t i0, ptrdiff_t i1)
{
    float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
    for (ptrdiff_t i = i0; i < i1; i++) {
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * a1;
        float vi = v[i] + (gi * gi - v[i]) * a2;
        m[i] = mi;
        v[i] = vi;
        w[i] -= alpha * mi / (sqrtf(vi) + eps);
    }
}

PYNN_PER_LEVEL(static, adam_range, adam_body,
               (float *w, const float *g, float *m, float *v, float alpha, float beta1,
                float beta2, float eps, ptrdiff_t i0, ptrdiff_t i1),
               (w, g, m, v, alpha, beta1, beta2, eps, i0, i1))

void pynn_adam_update(float *w, const float *g, float *m, float *v, ptrdiff_t n,
                      float lr, float beta1, float beta2, float eps, int64_t t)
{
    PYNN_FTZ_SCOPE;
    /* Bias corrections in double: beta^t for large t underflows float. */
    double c1 = 1.0 - pow((double)beta1, (double)t);
    double c2 = 1.0 - pow((double)beta2, (double)t);
    float alpha = (float)((double)lr * sqrt(c2) / c1);
    int nt = pynn_threads_for(n * 4);
    PYNN_PARALLEL_RANGE(nt, n, adam_range(w, g, m, v, alpha, beta1, beta2, eps, lo, hi));
}

/* L1/L2 weight penalties: returns sum(l1 |w| + l2 w^2) and, when g is not
 * NULL, adds its gradient l1 sign(w) + 2 l2 w to g. */
static inline __attribute__((always_inline)) void
penalty_body(const float *w, float *g, float l1, float l2, ptrdiff_t i0, ptrdiff_t i1,
             double *sum)
{
    float acc = 0.0f;
    if (g != NULL) {
#pragma omp simd reduction(+ : acc)
        for (ptrdiff_t i = i0; i < i1; i++) {
            float wi = w[i];
            float sign = (float)(wi > 0.0f) - (float)(wi < 0.0f);
            acc += l1 * fabsf(wi) + l2 * wi * wi;
            g[i] += l1 * sign + 2.0f * l2 * wi;
        }
    } else {
#pragma omp simd reduction(+ : acc)
        for (ptrdiff_t i = i0; i < i1; i++) {
            float wi = w[i];
            acc += l1 * fabsf(wi) + l2 * wi * wi;
        }
    }
    *sum = acc;
}

PYNN_PER_LEVEL(static, penalty_range, penalty_body,
               (const float *w, float *g, float l1, float l2, ptrdiff_t i0, ptrdiff_t i1,
                double *sum),
               (w, g, l1, l2, i0, i1, sum))

double pynn_weight_penalty(const float *w, float *g, ptrdiff_t n, float l1, float l2)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0)
        return 0.0;
    /* Blocks of 4096 keep the float partial sums accurate; their sum is
     * taken in double. */
    ptrdiff_t blocks = (n + 4095) / 4096;
    double total = 0.0;
    int nt = pynn_threads_for(n);
#pragma omp parallel for num_threads(nt) reduction(+ : total) if (nt > 1)
    for (ptrdiff_t b = 0; b < blocks; b++) {
        PYNN_FTZ_SCOPE;
        ptrdiff_t i0 = b * 4096, i1 = PYNN_MIN(n, i0 + 4096);
        double part;
        penalty_range(w, g, l1, l2, i0, i1, &part);
        total += part;
    }
    return total;
}
