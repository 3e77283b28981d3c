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

static inline __attribute__((always_inline)) void
rmsprop_body(float *w, const float *g, float *s, float lr, float rho, float eps, ptrdiff_t i0,
             ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        float gi = g[i];
        float si = rho * s[i] + (1.0f - rho) * gi * gi;
        s[i] = si;
        w[i] -= lr * gi / (sqrtf(si) + eps);
    }
}

PYNN_PER_LEVEL(static, rmsprop_range, rmsprop_body,
               (float *w, const float *g, float *s, float lr, float rho, float eps,
                ptrdiff_t i0, ptrdiff_t i1),
               (w, g, s, lr, rho, eps, i0, i1))

void pynn_rmsprop_update(float *w, const float *g, float *s, ptrdiff_t n,
                         float lr, float rho, float eps)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(n * 4);
    PYNN_PARALLEL_RANGE(nt, n, rmsprop_range(w, g, s, lr, rho, eps, lo, hi));
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
