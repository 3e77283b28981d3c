/* gemm.c - single-precision matrix product (blocked, portable). */
#include "pynn.h"
#include "internal.h"

#define A_(i, p) (trans_a ? a[(p) * lda + (i)] : a[(i) * lda + (p)])
#define B_(p, j) (trans_b ? b[(j) * ldb + (p)] : b[(p) * ldb + (j)])

void pynn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                float alpha, const float *a, ptrdiff_t lda,
                const float *b, ptrdiff_t ldb,
                float beta, float *c, ptrdiff_t ldc)
{
    const ptrdiff_t KB = 256;
#pragma omp parallel for schedule(static) num_threads(pynn_threads_for(m * n * k))
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (ptrdiff_t j = 0; j < n; j++) ci[j] = 0.0f;
        else if (beta != 1.0f)
            for (ptrdiff_t j = 0; j < n; j++) ci[j] *= beta;
        for (ptrdiff_t p0 = 0; p0 < k; p0 += KB) {
            ptrdiff_t p1 = PYNN_MIN(k, p0 + KB);
            for (ptrdiff_t p = p0; p < p1; p++) {
                float av = alpha * A_(i, p);
                if (!trans_b) {
                    const float *bp = b + p * ldb;
                    for (ptrdiff_t j = 0; j < n; j++) ci[j] += av * bp[j];
                } else {
                    for (ptrdiff_t j = 0; j < n; j++) ci[j] += av * b[j * ldb + p];
                }
            }
        }
    }
}
