/*
 * gemm_kernels.c - the GEMM's inner kernels: a 6x16 register-blocked
 * micro-kernel over packed panels, and a direct kernel for products with few
 * rows (a single sample's predict), each in a portable form and an AVX2/FMA
 * form.  The AVX2 forms carry target attributes, so the package itself is
 * compiled for baseline x86-64; gemm.c picks one set at run time.
 */
#include "internal.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYNN_HAVE_AVX2_KERNELS 1
#endif

/* Writes the mr x nr corner of the tile acc (row-major, ldacc = NR) to C:
 * C = alpha * acc + beta * C, where beta == 0 does not read C. */
static void store_tile(const float *acc, float *c, ptrdiff_t ldc, int mr, int nr,
                       float alpha, float beta)
{
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        const float *ai = acc + i * PYNN_GEMM_NR;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) ci[j] = alpha * ai[j];
        else
            for (int j = 0; j < nr; j++) ci[j] = alpha * ai[j] + beta * ci[j];
    }
}

/* ------------------------------------------------------------ portable */

static void micro_generic(ptrdiff_t kc, const float *a, const float *b, float *c,
                          ptrdiff_t ldc, int mr, int nr, float alpha, float beta)
{
    float acc[PYNN_GEMM_MR * PYNN_GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (ptrdiff_t p = 0; p < kc; p++) {
        const float *ap = a + p * PYNN_GEMM_MR, *bp = b + p * PYNN_GEMM_NR;
        for (int i = 0; i < PYNN_GEMM_MR; i++) {
            float av = ap[i];
            float *row = acc + i * PYNN_GEMM_NR;
            for (int j = 0; j < PYNN_GEMM_NR; j++) row[j] += av * bp[j];
        }
    }
    store_tile(acc, c, ldc, mr, nr, alpha, beta);
}

/* Few rows, B not transposed: C rows are sums of B rows, streamed once. */
#define DIRECT_ROWS_BODY                                                       \
    for (ptrdiff_t i = 0; i < m; i++) {                                        \
        float *ci = c + i * ldc;                                               \
        for (ptrdiff_t j = j0; j < j1; j++) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j]; \
        for (ptrdiff_t p = 0; p < k; p++) {                                    \
            float av = alpha * a[i * rsa + p * csa];                           \
            const float *bp = b + p * ldb;                                     \
            for (ptrdiff_t j = j0; j < j1; j++) ci[j] += av * bp[j];           \
        }                                                                      \
    }

static void direct_generic(ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k,
                           float alpha, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                           const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc)
{
    DIRECT_ROWS_BODY
}

/* --------------------------------------------------------------- AVX2 */

#ifdef PYNN_HAVE_AVX2_KERNELS
__attribute__((target("avx2,fma")))
static void micro_avx2(ptrdiff_t kc, const float *a, const float *b, float *c,
                       ptrdiff_t ldc, int mr, int nr, float alpha, float beta)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (ptrdiff_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 av;
        av = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
        a += PYNN_GEMM_MR;
        b += PYNN_GEMM_NR;
    }
    __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    if (mr == PYNN_GEMM_MR && nr == PYNN_GEMM_NR) {
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
        for (int i = 0; i < PYNN_GEMM_MR; i++) {
            float *ci = c + i * ldc;
            __m256 r0 = _mm256_mul_ps(va, acc[2 * i]), r1 = _mm256_mul_ps(va, acc[2 * i + 1]);
            if (beta != 0.0f) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
        return;
    }
    float tile[PYNN_GEMM_MR * PYNN_GEMM_NR];
    for (int i = 0; i < 12; i++) _mm256_storeu_ps(tile + 8 * i, acc[i]);
    store_tile(tile, c, ldc, mr, nr, alpha, beta);
}

__attribute__((target("avx2,fma")))
static void direct_avx2(ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k,
                        float alpha, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                        const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc)
{
    /* 32 columns at a time held in four registers across all of k, so each
     * FMA costs one load of B and C is written once. */
    ptrdiff_t jv = j0 + (j1 - j0) / 32 * 32;
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (ptrdiff_t j = j0; j < jv; j += 32) {
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
            __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
            const float *bp = b + j;
            for (ptrdiff_t p = 0; p < k; p++, bp += ldb) {
                __m256 av = _mm256_set1_ps(a[i * rsa + p * csa]);
                s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp), s0);
                s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 8), s1);
                s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 16), s2);
                s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 24), s3);
            }
            __m256 sums[4] = {s0, s1, s2, s3};
            __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
            for (int q = 0; q < 4; q++) {
                __m256 r = _mm256_mul_ps(va, sums[q]);
                if (beta != 0.0f)
                    r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + j + 8 * q), r);
                _mm256_storeu_ps(ci + j + 8 * q, r);
            }
        }
    }
    if (jv < j1) {
        j0 = jv;
        DIRECT_ROWS_BODY
    }
}
#endif

void pynn_gemm_kernels(int use_avx2, pynn_micro_kernel *micro, pynn_direct_kernel *direct)
{
#ifdef PYNN_HAVE_AVX2_KERNELS
    if (use_avx2) {
        *micro = micro_avx2;
        *direct = direct_avx2;
        return;
    }
#endif
    (void)use_avx2;
    *micro = micro_generic;
    *direct = direct_generic;
}
