/*
 * gemm_kernels.c - the GEMM's inner kernels: a register-blocked micro-kernel
 * over packed panels, and a direct kernel for products with few rows (a
 * single sample's predict), in three sets: portable C (6x16 tiles), AVX2/FMA
 * (6x16: twelve 8-float accumulators) and AVX-512 (8x32: sixteen 16-float
 * accumulators, enough independent FMAs to cover their latency on two FMA
 * units).  The vector forms carry target attributes, so the package itself
 * is compiled for baseline x86-64; gemm.c picks one set at run time.
 */
#include "pynn.h"
#include "internal.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYNN_HAVE_AVX2_KERNELS 1
#endif

#define MR6 6
#define NR16 16

/* Writes the mr x nr corner of the tile acc (row-major, ldacc columns) to C:
 * C = alpha * acc + beta * C, where beta == 0 does not read C. */
static void store_tile(const float *acc, int ldacc, float *c, ptrdiff_t ldc, int mr, int nr,
                       float alpha, float beta)
{
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        const float *ai = acc + i * ldacc;
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
    float acc[MR6 * NR16];
    memset(acc, 0, sizeof acc);
    for (ptrdiff_t p = 0; p < kc; p++) {
        const float *ap = a + p * MR6, *bp = b + p * NR16;
        for (int i = 0; i < MR6; i++) {
            float av = ap[i];
            float *row = acc + i * NR16;
            for (int j = 0; j < NR16; j++) row[j] += av * bp[j];
        }
    }
    store_tile(acc, NR16, c, ldc, mr, nr, alpha, beta);
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
/* C = alpha * acc + beta * C for the first mr rows and nr columns of a
 * 6 x 16 tile of sums (two vectors a row): a whole tile by plain stores, a
 * partial one masked, in the same operations, so a sum rounds alike
 * whichever tile holds it (the scalar form contracted alpha * acc + beta
 * * C the other way round). */
__attribute__((target("avx2,fma"), always_inline))
static inline void store_tile_avx2(const __m256 *acc, float *c, ptrdiff_t ldc, int mr, int nr,
                                   float alpha, float beta)
{
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == MR6 && nr == NR16) {
        for (int i = 0; i < MR6; i++) {
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
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), iota);
    __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), iota);
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m256 r0 = _mm256_mul_ps(va, acc[2 * i]), r1 = _mm256_mul_ps(va, acc[2 * i + 1]);
        if (beta != 0.0f) {
            r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, m0), r0);
            r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, m1), r1);
        }
        _mm256_maskstore_ps(ci, m0, r0);
        _mm256_maskstore_ps(ci + 8, m1, r1);
    }
}

/* The last tile of a product whose rows are not a multiple of six (8 rows:
 * a tile of 6 and one of 2) multiplies only its real rows, read from the
 * same 6-row panel: summing four rows of zeros cost a 8 x 1024 x 1024
 * product a third of its time.  ROWS is a constant at every call, so the
 * loops unroll and the sums stay in registers. */
__attribute__((target("avx2,fma"), always_inline))
static inline void micro_avx2_rows(const int ROWS, ptrdiff_t kc, const float *a,
                                   const float *b, float *c, ptrdiff_t ldc, int nr,
                                   float alpha, float beta)
{
    __m256 acc[8];
    for (int i = 0; i < 2 * ROWS; i++) acc[i] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 4
        for (int i = 0; i < ROWS; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            acc[2 * i] = _mm256_fmadd_ps(av, b0, acc[2 * i]);
            acc[2 * i + 1] = _mm256_fmadd_ps(av, b1, acc[2 * i + 1]);
        }
        a += MR6;
        b += NR16;
    }
    store_tile_avx2(acc, c, ldc, ROWS, nr, alpha, beta);
}

__attribute__((target("avx2,fma"), noinline))
static void micro_avx2_few(ptrdiff_t kc, const float *a, const float *b, float *c,
                           ptrdiff_t ldc, int mr, int nr, float alpha, float beta)
{
    switch (mr) {
    case 1: micro_avx2_rows(1, kc, a, b, c, ldc, nr, alpha, beta); return;
    case 2: micro_avx2_rows(2, kc, a, b, c, ldc, nr, alpha, beta); return;
    case 3: micro_avx2_rows(3, kc, a, b, c, ldc, nr, alpha, beta); return;
    default: micro_avx2_rows(4, kc, a, b, c, ldc, nr, alpha, beta); return;
    }
}

/* The 6-row tile, in a function of its own: the few-row forms inlined
 * into it cost the full tile its register allocation (a third slower). */
__attribute__((target("avx2,fma")))
static void micro_avx2(ptrdiff_t kc, const float *a, const float *b, float *c,
                       ptrdiff_t ldc, int mr, int nr, float alpha, float beta)
{
    if (mr <= 4) {
        micro_avx2_few(kc, a, b, c, ldc, mr, nr, alpha, beta);
        return;
    }
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    /* C's rows are fetched while the loop runs (they come from L3 or
     * memory when C is large), and B, whose panel is read from L2 or L3
     * by the first tile of each panel, four steps ahead: the hardware
     * prefetcher alone left 10 % of a 2048 x 2048 product waiting. */
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR16 - 1), _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        _mm_prefetch((const char *)(b + 4 * NR16), _MM_HINT_T0);
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 av;
        av = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
        a += MR6;
        b += NR16;
    }
    __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    store_tile_avx2(acc, c, ldc, mr, nr, alpha, beta);
}

/* The micro-kernel's tile with A read in place, ROWS rows of a row-major
 * A (lda apart), against 16 columns of B, ldb apart a step (a packed
 * panel, or a row-major B read in place: unaligned loads, which cost
 * nothing more on aligned panels).  Packing A copies it once per
 * product (per thread, when threads split B's columns); up to a few
 * hundred rows the broadcasts read A's rows as well where they are, and a
 * batch-32 dense layer lost up to a sixth of its time to the copy.  The
 * sums run in micro_avx2's order, so the results are the same bit for
 * bit. */
__attribute__((target("avx2,fma"), always_inline))
static inline void rows_avx2_tile(const int ROWS, ptrdiff_t kc, const float *a, ptrdiff_t lda,
                                  const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, int nr,
                                  float alpha, float beta)
{
    /* Named sums, not an array: GCC kept an array of them in memory. */
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda;
    const float *a5 = a + 5 * lda;
#define ROWS_AVX2_FMA(I)                                                       \
    if (ROWS > I) {                                                            \
        __m256 av = _mm256_broadcast_ss(a##I + p);                            \
        c##I##0 = _mm256_fmadd_ps(av, b0, c##I##0);                            \
        c##I##1 = _mm256_fmadd_ps(av, b1, c##I##1);                            \
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        ROWS_AVX2_FMA(0) ROWS_AVX2_FMA(1) ROWS_AVX2_FMA(2)
        ROWS_AVX2_FMA(3) ROWS_AVX2_FMA(4) ROWS_AVX2_FMA(5)
        b += ldb;
    }
#undef ROWS_AVX2_FMA
    __m256 acc[2 * MR6] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    store_tile_avx2(acc, c, ldc, ROWS, nr, alpha, beta);
}

/* One function per height, none inlined into another (see micro_avx2). */
#define ROWS_AVX2(ROWS)                                                        \
    __attribute__((target("avx2,fma"), noinline)) static void rows_avx2_##ROWS( \
        ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b,           \
        ptrdiff_t ldb, float *c, ptrdiff_t ldc, int nr, float alpha, float beta) \
    {                                                                          \
        rows_avx2_tile(ROWS, kc, a, lda, b, ldb, c, ldc, nr, alpha, beta);     \
    }
ROWS_AVX2(1) ROWS_AVX2(2) ROWS_AVX2(3) ROWS_AVX2(4) ROWS_AVX2(5) ROWS_AVX2(6)

static void rows_avx2(ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b,
                      ptrdiff_t ldb, float *c, ptrdiff_t ldc, int mr, int nr, float alpha,
                      float beta)
{
    switch (mr) {
    case 1: rows_avx2_1(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 2: rows_avx2_2(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 3: rows_avx2_3(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 4: rows_avx2_4(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 5: rows_avx2_5(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    default: rows_avx2_6(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    }
}

/* Columns [j, j + 8 * NV) of C row ci: NV accumulators held across all of
 * k, so each FMA costs one load of B and C is written once. */
#define DIRECT_AVX2_BLOCK(NV)                                                  \
    do {                                                                       \
        __m256 s[NV];                                                          \
        for (int q = 0; q < NV; q++) s[q] = _mm256_setzero_ps();               \
        const float *bp = b + j;                                               \
        for (ptrdiff_t p = 0; p < k; p++, bp += ldb) {                         \
            __m256 av = _mm256_set1_ps(ai[p * csa]);                           \
            for (int q = 0; q < NV; q++)                                       \
                s[q] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 8 * q), s[q]); \
        }                                                                      \
        for (int q = 0; q < NV; q++) {                                         \
            __m256 r = _mm256_mul_ps(va, s[q]);                                \
            if (beta != 0.0f)                                                  \
                r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + j + 8 * q), r);   \
            _mm256_storeu_ps(ci + j + 8 * q, r);                               \
        }                                                                      \
    } while (0)

/* C[0:8] = alpha * sums + beta * C (C not read where beta is 0), the
 * columns mk selects where MASKED: the few rows' kernels' one store, in
 * store_tile_avx2's operations, so a sum rounds alike in every form. */
__attribute__((target("avx2,fma"), always_inline))
static inline void store_sums_avx2(float *c, __m256 sums, const int MASKED, __m256i mk,
                                   __m256 va, __m256 vb, float beta)
{
    __m256 v = _mm256_mul_ps(va, sums);
    if (MASKED) {
        if (beta != 0.0f)
            v = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, mk), v);
        _mm256_maskstore_ps(c, mk, v);
    } else {
        if (beta != 0.0f)
            v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), v);
        _mm256_storeu_ps(c, v);
    }
}

/* Columns [j, j + 8 * NV) of all M rows (2 to 4) at once, the last vector
 * masked to the columns mk selects where MASKED: each row of B is read
 * once for all rows of A (row by row, 4 x 1024 x 1024 read its 4 MB four
 * times from L3: 1.6x OpenBLAS's time).  Each sum runs over k in order in
 * one accumulator, as the one-row form's. */
__attribute__((target("avx2,fma"), always_inline))
static inline void direct_avx2_rows(const int M, const int NV, const int MASKED, ptrdiff_t k,
                                    const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b,
                                    ptrdiff_t ldb, float *c, ptrdiff_t ldc, __m256i mk, __m256 va,
                                    __m256 vb, float beta)
{
    __m256 s[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 6
        for (int q = 0; q < NV; q++) s[r][q] = _mm256_setzero_ps();
    for (ptrdiff_t p = 0; p < k; p++, b += ldb) {
        __m256 bv[6];
#pragma GCC unroll 6
        for (int q = 0; q < NV - 1; q++) bv[q] = _mm256_loadu_ps(b + 8 * q);
        bv[NV - 1] = MASKED ? _mm256_maskload_ps(b + 8 * (NV - 1), mk)
                            : _mm256_loadu_ps(b + 8 * (NV - 1));
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) {
            __m256 av = _mm256_set1_ps(a[r * rsa + p * csa]);
#pragma GCC unroll 6
            for (int q = 0; q < NV; q++) s[r][q] = _mm256_fmadd_ps(av, bv[q], s[r][q]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 6
        for (int q = 0; q < NV; q++)
            store_sums_avx2(c + r * ldc + 8 * q, s[r][q], MASKED && q == NV - 1, mk, va, vb,
                            beta);
}

/* Columns [j0, j1) of M rows: blocks of 8 * NV columns (M * NV sums),
 * then one block of the vectors left, the last masked. */
__attribute__((target("avx2,fma"), always_inline))
static inline void direct_avx2_multi(const int M, const int NV, ptrdiff_t j0, ptrdiff_t j1,
                                     ptrdiff_t k, float alpha, const float *a, ptrdiff_t rsa,
                                     ptrdiff_t csa, const float *b, ptrdiff_t ldb, float beta,
                                     float *c, ptrdiff_t ldc)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    ptrdiff_t j = j0;
    for (; j + 8 * NV <= j1; j += 8 * NV)
        direct_avx2_rows(M, NV, 0, k, a, rsa, csa, b + j, ldb, c + j, ldc, iota, va, vb, beta);
    if (j == j1)
        return;
    const ptrdiff_t left = j1 - j, vectors = (left + 7) / 8;
    __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left - 8 * (vectors - 1))), iota);
#define DIRECT_AVX2_LEFT(V)                                                    \
    direct_avx2_rows(M, V, 1, k, a, rsa, csa, b + j, ldb, c + j, ldc, mk, va, vb, beta)
    /* (vectors <= NV: the cases past NV are never taken, nor compiled) */
    switch (vectors) {
    case 1: DIRECT_AVX2_LEFT(1); break;
    case 2: if (NV >= 2) DIRECT_AVX2_LEFT(2); break;
    case 3: if (NV >= 3) DIRECT_AVX2_LEFT(3); break;
    case 4: if (NV >= 4) DIRECT_AVX2_LEFT(4); break;
    case 5: if (NV >= 5) DIRECT_AVX2_LEFT(5); break;
    default: if (NV >= 6) DIRECT_AVX2_LEFT(6); break;
    }
#undef DIRECT_AVX2_LEFT
}

/* Rows of B taken together by the streaming form (below), by rows of A:
 * M x STREAM_STEPS broadcast factors in registers.  One row of A with 4
 * rows of B at a time took 1.2x OpenBLAS's time on 1 x 2048 x 2048, with
 * 8 the same as it. */
#define STREAM_STEPS(M) ((M) == 1 ? 8 : (M) <= 2 ? 4 : 2)

/* stream_avx2_rows for M rows (up to 8): more than 4 take the same P rows
 * of B, still in L1, in two groups, so B is read from memory once. */
#define STREAM_AVX2_GROUPS(M, P, PF, CHUNK, a, rsa, csa, b, ldb, y, whole, w, mk)             \
    do {                                                                                  \
        if ((M) > 4) {                                                                    \
            stream_avx2_rows(4, P, PF, CHUNK, a, rsa, csa, b, ldb, y, whole, w, mk);      \
            stream_avx2_rows((M) - 4, P, 0, CHUNK, (a) + 4 * (rsa), rsa, csa, b, ldb,        \
                             (y) + 4 * (CHUNK), whole, w, mk);                            \
        } else {                                                                          \
            stream_avx2_rows(M, P, PF, CHUNK, a, rsa, csa, b, ldb, y, whole, w, mk);      \
        }                                                                                 \
    } while (0)

/* y[r][0:w] += sum over t < P of a[r][t] B[t][0:w] for the M rows of y
 * (CHUNK apart), in order over t; B's rows ldb apart, the last vector
 * masked by mk past whole.  With PF_ROWS, each cache line of the P rows
 * that many rows further down B is fetched ahead. */
__attribute__((target("avx2,fma"), always_inline))
static inline void stream_avx2_rows(const int M, const int P, const int PF_ROWS,
                                    const ptrdiff_t CHUNK,
                                    const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                                    const float *b, ptrdiff_t ldb, float *y, ptrdiff_t whole,
                                    ptrdiff_t w, __m256i mk)
{
    __m256 av[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 8
        for (int t = 0; t < P; t++) av[r][t] = _mm256_set1_ps(a[r * rsa + t * csa]);
    for (ptrdiff_t j = 0; j < w; j += 8) {
        __m256 bv[8];
        if (PF_ROWS && !(j & 8)) {
#pragma GCC unroll 8
            for (int t = 0; t < P; t++)
                _mm_prefetch((const char *)(b + (t + PF_ROWS) * ldb + j), _MM_HINT_T0);
        }
#pragma GCC unroll 8
        for (int t = 0; t < P; t++)
            bv[t] = j < whole ? _mm256_loadu_ps(b + t * ldb + j)
                              : _mm256_maskload_ps(b + t * ldb + j, mk);
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) {
            __m256 acc = _mm256_load_ps(y + r * CHUNK + j);
#pragma GCC unroll 8
            for (int t = 0; t < P; t++) acc = _mm256_fmadd_ps(av[r][t], bv[t], acc);
            _mm256_store_ps(y + r * CHUNK + j, acc);
        }
    }
}

/* Columns [j0, j1) of M rows (1 to 8) with B streamed row after row, for
 * a B too big for L2: C's rows, a chunk of columns at a time, stay in L1
 * while STREAM_STEPS rows of B at a time are read across the chunk, as
 * BLAS's gemv does.  The column blocks' form read a few hundred bytes
 * from each row of B in turn, which the prefetchers do not follow: from
 * L3 or memory, 1 x 1024 x 1024 took 1.6x OpenBLAS's time and 1 x 2048 x
 * 2048 3.9x.  Each sum still runs over k in order, from zero, as there. */
__attribute__((target("avx2,fma"), always_inline))
static inline void stream_avx2(const int M, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k,
                               float alpha, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                               const float *b, ptrdiff_t ldb, float beta, float *c,
                               ptrdiff_t ldc)
{
    /* columns a chunk: its sums take 16 KiB, half of L1 */
    const ptrdiff_t CHUNK = 4096 / M / 8 * 8;
    const int P = STREAM_STEPS(M > 4 ? 4 : M);
    /* More than 4 rows take chunks of 512 columns or fewer: 2 KB from
     * each row of B in turn, too short for the prefetchers to follow
     * (8 x 2048 x 2048 took 1.17-1.32x OpenBLAS's time, 0.72-0.84x with
     * the rows two steps ahead fetched; for 1 to 4 rows, 4 KB or more a
     * row, the fetches only took load slots: 1 x 2048 x 2048 1.07 ->
     * 1.4-2.1x). */
    const int PFD = M > 4 ? 2 * P : 0;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    float y[4096] __attribute__((aligned(32)));
    for (ptrdiff_t jc = j0; jc < j1; jc += CHUNK) {
        const ptrdiff_t w = PYNN_MIN(CHUNK, j1 - jc), whole = w / 8 * 8;
        const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(w - whole)), iota);
        memset(y, 0, sizeof(float) * (size_t)(M * CHUNK));
        ptrdiff_t p = 0;
        for (; p + P <= k; p += P)
            STREAM_AVX2_GROUPS(M, P, PFD, CHUNK, a + p * csa, rsa, csa, b + p * ldb + jc, ldb, y,
                               whole, w, mk);
        for (; p < k; p++)
            STREAM_AVX2_GROUPS(M, 1, 0, CHUNK, a + p * csa, rsa, csa, b + p * ldb + jc, ldb, y,
                               whole, w, mk);
        for (int r = 0; r < M; r++) {
            float *cr = c + r * ldc + jc;
            const float *yr = y + r * CHUNK;
            ptrdiff_t j = 0;
            for (; j < whole; j += 8)
                store_sums_avx2(cr + j, _mm256_load_ps(yr + j), 0, mk, va, vb, beta);
            if (j < w)
                store_sums_avx2(cr + j, _mm256_load_ps(yr + j), 1, mk, va, vb, beta);
        }
    }
}

#define DIRECT_AVX2_MULTI(M, NV)                                               \
    __attribute__((target("avx2,fma"), noinline)) static void direct_avx2_##M( \
        ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k, float alpha, const float *a, ptrdiff_t rsa, \
        ptrdiff_t csa, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) \
    {                                                                          \
        direct_avx2_multi(M, NV, j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); \
    }
DIRECT_AVX2_MULTI(2, 6)
DIRECT_AVX2_MULTI(3, 4)
DIRECT_AVX2_MULTI(4, 3)

#define STREAM_AVX2(M)                                                         \
    __attribute__((target("avx2,fma"), noinline)) static void stream_avx2_##M( \
        ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k, float alpha, const float *a, ptrdiff_t rsa, \
        ptrdiff_t csa, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) \
    {                                                                          \
        stream_avx2(M, j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc);   \
    }
STREAM_AVX2(1)
STREAM_AVX2(2)
STREAM_AVX2(3)
STREAM_AVX2(4)
STREAM_AVX2(5)
STREAM_AVX2(6)
STREAM_AVX2(7)
STREAM_AVX2(8)

/* Streams B (see stream_avx2) for 1 to 8 rows where more
 * than PYNN_GEMM_STREAM_MIN floats of it are read: returns 1, or 0 for a
 * smaller B, which stays in L2 from one
 * call to the next and is read faster by the column blocks (4 x 784 x
 * 128: 13.3 us against 18.1 streamed).  The AVX-512 set streams with it:
 * the loads wait on memory, not on the vectors' width, and its column
 * blocks of 128 read B's rows 512 bytes at a time as the AVX2 ones did
 * 256. */
__attribute__((target("avx2,fma")))
static int stream_large_b(ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k, float alpha,
                          const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b,
                          ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc)
{
    if (k * (j1 - j0) <= PYNN_GEMM_STREAM_MIN)
        return 0;
    /* (8 x 1024 x 1024 packed took 1.10x OpenBLAS's time, its tiles of 6
     * rows leaving two thirds of the second empty) */
    switch (m) {
    case 1: stream_avx2_1(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    case 2: stream_avx2_2(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    case 3: stream_avx2_3(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    case 4: stream_avx2_4(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    case 5: stream_avx2_5(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    case 6: stream_avx2_6(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    case 7: stream_avx2_7(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    default: stream_avx2_8(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); break;
    }
    return 1;
}

__attribute__((target("avx2,fma")))
static void direct_avx2(ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k,
                        float alpha, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                        const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc)
{
    if (stream_large_b(m, j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc))
        return;
    for (; m > 4; m -= 4, a += 4 * rsa, c += 4 * ldc)
        direct_avx2_4(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc);
    switch (m) {
    case 2: direct_avx2_2(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); return;
    case 3: direct_avx2_3(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); return;
    case 4: direct_avx2_4(j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc); return;
    }
    /* 64 columns (eight registers) at a time: eight independent sums keep
     * both FMA units busy (four left them waiting on the FMA latency);
     * then at most one block of 32, then the last columns 8 at a time
     * (masked at the end) with k split over four accumulators.  A 10-class
     * output layer is such a block: summed through memory, as it was, each
     * row of B waited on the store of the one before. */
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        const float *ai = a + i * rsa;
        ptrdiff_t j = j0;
        for (; j + 64 <= j1; j += 64)
            DIRECT_AVX2_BLOCK(8);
        if (j + 32 <= j1) {
            DIRECT_AVX2_BLOCK(4);
            j += 32;
        }
        for (; j < j1; j += 8) {
            int left = (int)PYNN_MIN(j1 - j, 8);
            __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), iota);
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
            __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
            const float *bp = b + j;
            ptrdiff_t p = 0;
            for (; p + 4 <= k; p += 4, bp += 4 * ldb) {
                s0 = _mm256_fmadd_ps(_mm256_set1_ps(ai[p * csa]),
                                     _mm256_maskload_ps(bp, mk), s0);
                s1 = _mm256_fmadd_ps(_mm256_set1_ps(ai[(p + 1) * csa]),
                                     _mm256_maskload_ps(bp + ldb, mk), s1);
                s2 = _mm256_fmadd_ps(_mm256_set1_ps(ai[(p + 2) * csa]),
                                     _mm256_maskload_ps(bp + 2 * ldb, mk), s2);
                s3 = _mm256_fmadd_ps(_mm256_set1_ps(ai[(p + 3) * csa]),
                                     _mm256_maskload_ps(bp + 3 * ldb, mk), s3);
            }
            for (; p < k; p++, bp += ldb)
                s0 = _mm256_fmadd_ps(_mm256_set1_ps(ai[p * csa]), _mm256_maskload_ps(bp, mk),
                                     s0);
            __m256 r = _mm256_mul_ps(va, _mm256_add_ps(_mm256_add_ps(s0, s1),
                                                       _mm256_add_ps(s2, s3)));
            if (beta != 0.0f)
                r = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + j, mk), r);
            _mm256_maskstore_ps(ci + j, mk, r);
        }
    }
}
#endif

/* ------------------------------------------------------------- AVX-512 */

#ifdef PYNN_HAVE_AVX2_KERNELS
#define MR8 8
#define NR32 32

/* alpha * (s0, s1) + beta * C into the nr columns of row ci that masks m0
 * and m1 select (all 32: plain full-width stores at the same speed). */
__attribute__((target("avx512f"), always_inline))
static inline void store_row_avx512(float *ci, __m512 s0, __m512 s1, __mmask16 m0,
                                    __mmask16 m1, __m512 va, __m512 vb, float beta)
{
    __m512 r0 = _mm512_mul_ps(va, s0), r1 = _mm512_mul_ps(va, s1);
    if (beta != 0.0f) {
        r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
    }
    _mm512_mask_storeu_ps(ci, m0, r0);
    _mm512_mask_storeu_ps(ci + 16, m1, r1);
}

/* ROWS rows of the 8 x 32 tile against 32 columns of B ldb apart a step
 * (a packed panel, or B read in place by the rows kernel), A either packed
 * (MR8 floats per k step, IN_PLACE 0) or read in place from ROWS rows of a
 * row-major A lda apart (IN_PLACE 1: the rows kernel, as rows_avx2_tile).
 * The sums are named registers (an array of them was kept on the stack,
 * zeroed and reloaded at every tile), C's rows are fetched while the loop
 * runs and B's panel four steps ahead, as in micro_avx2.  Both forms sum
 * in the same order, so packed and in-place results agree bit for bit. */
__attribute__((target("avx512f"), always_inline))
static inline void tile_avx512(const int ROWS, const int IN_PLACE, ptrdiff_t kc,
                               const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                               float *c, ptrdiff_t ldc, int nr, float alpha, float beta)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    const ptrdiff_t step = IN_PLACE ? 1 : MR8, row = IN_PLACE ? lda : 1;
    const float *a0 = a, *a1 = a + row, *a2 = a + 2 * row, *a3 = a + 3 * row;
    const float *a4 = a + 4 * row, *a5 = a + 5 * row, *a6 = a + 6 * row, *a7 = a + 7 * row;
    for (int i = 0; i < ROWS; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR32 - 1), _MM_HINT_T0);
    }
#define TILE_AVX512_FMA(I)                                                     \
    if (ROWS > I) {                                                            \
        __m512 av = _mm512_set1_ps(a##I[p * step]);                            \
        c##I##0 = _mm512_fmadd_ps(av, b0, c##I##0);                            \
        c##I##1 = _mm512_fmadd_ps(av, b1, c##I##1);                            \
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        _mm_prefetch((const char *)(b + 4 * ldb), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 4 * ldb + 16), _MM_HINT_T0);
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        TILE_AVX512_FMA(0) TILE_AVX512_FMA(1) TILE_AVX512_FMA(2) TILE_AVX512_FMA(3)
        TILE_AVX512_FMA(4) TILE_AVX512_FMA(5) TILE_AVX512_FMA(6) TILE_AVX512_FMA(7)
        b += ldb;
    }
#undef TILE_AVX512_FMA
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
#define TILE_AVX512_STORE(I)                                                   \
    if (ROWS > I)                                                              \
        store_row_avx512(c + I * ldc, c##I##0, c##I##1, m0, m1, va, vb, beta);
    TILE_AVX512_STORE(0) TILE_AVX512_STORE(1) TILE_AVX512_STORE(2) TILE_AVX512_STORE(3)
    TILE_AVX512_STORE(4) TILE_AVX512_STORE(5) TILE_AVX512_STORE(6) TILE_AVX512_STORE(7)
#undef TILE_AVX512_STORE
}

/* One function per height and form, none inlined into another (see
 * micro_avx2): the packed tile's last rows (a product whose rows are not a
 * multiple of eight) multiply only their real rows, as micro_avx2_few. */
#define TILES_AVX512(ROWS)                                                     \
    __attribute__((target("avx512f"), noinline)) static void micro_avx512_##ROWS( \
        ptrdiff_t kc, const float *a, const float *b, float *c, ptrdiff_t ldc, \
        int nr, float alpha, float beta)                                       \
    {                                                                          \
        tile_avx512(ROWS, 0, kc, a, 0, b, NR32, c, ldc, nr, alpha, beta);      \
    }                                                                          \
    __attribute__((target("avx512f"), noinline)) static void rows_avx512_##ROWS( \
        ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b,           \
        ptrdiff_t ldb, float *c, ptrdiff_t ldc, int nr, float alpha, float beta) \
    {                                                                          \
        tile_avx512(ROWS, 1, kc, a, lda, b, ldb, c, ldc, nr, alpha, beta);     \
    }
TILES_AVX512(1) TILES_AVX512(2) TILES_AVX512(3) TILES_AVX512(4)
TILES_AVX512(5) TILES_AVX512(6) TILES_AVX512(7) TILES_AVX512(8)

static void micro_avx512(ptrdiff_t kc, const float *a, const float *b, float *c,
                         ptrdiff_t ldc, int mr, int nr, float alpha, float beta)
{
    switch (mr) {
    case 1: micro_avx512_1(kc, a, b, c, ldc, nr, alpha, beta); return;
    case 2: micro_avx512_2(kc, a, b, c, ldc, nr, alpha, beta); return;
    case 3: micro_avx512_3(kc, a, b, c, ldc, nr, alpha, beta); return;
    case 4: micro_avx512_4(kc, a, b, c, ldc, nr, alpha, beta); return;
    case 5: micro_avx512_5(kc, a, b, c, ldc, nr, alpha, beta); return;
    case 6: micro_avx512_6(kc, a, b, c, ldc, nr, alpha, beta); return;
    case 7: micro_avx512_7(kc, a, b, c, ldc, nr, alpha, beta); return;
    default: micro_avx512_8(kc, a, b, c, ldc, nr, alpha, beta); return;
    }
}

static void rows_avx512(ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b,
                        ptrdiff_t ldb, float *c, ptrdiff_t ldc, int mr, int nr, float alpha,
                        float beta)
{
    switch (mr) {
    case 1: rows_avx512_1(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 2: rows_avx512_2(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 3: rows_avx512_3(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 4: rows_avx512_4(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 5: rows_avx512_5(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 6: rows_avx512_6(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    case 7: rows_avx512_7(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    default: rows_avx512_8(kc, a, lda, b, ldb, c, ldc, nr, alpha, beta); return;
    }
}

__attribute__((target("avx512f")))
static void direct_avx512(ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k,
                          float alpha, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                          const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc)
{
    /* As direct_avx2: 128 columns (eight registers: eight independent sums
     * keep both FMA units busy, where four waited on the FMA latency and
     * ran a 1 x 784 x 128 product at the AVX2 form's speed), then at most
     * one block of 64 (four registers); then the last columns 16 at a time
     * (masked at the end), with k split over four accumulators so the FMAs
     * do not wait on each other (a 10-class output layer is one such
     * block). */
    if (stream_large_b(m, j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc))
        return;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        const float *ai = a + i * rsa;
        ptrdiff_t j = j0;
        for (; j + 128 <= j1; j += 128) {
            __m512 s[8];
            for (int q = 0; q < 8; q++) s[q] = _mm512_setzero_ps();
            const float *bp = b + j;
            for (ptrdiff_t p = 0; p < k; p++, bp += ldb) {
                __m512 av = _mm512_set1_ps(ai[p * csa]);
                for (int q = 0; q < 8; q++)
                    s[q] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp + 16 * q), s[q]);
            }
            for (int q = 0; q < 8; q++) {
                __m512 r = _mm512_mul_ps(va, s[q]);
                if (beta != 0.0f)
                    r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + j + 16 * q), r);
                _mm512_storeu_ps(ci + j + 16 * q, r);
            }
        }
        for (; j + 64 <= j1; j += 64) {
            __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
            __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
            const float *bp = b + j;
            for (ptrdiff_t p = 0; p < k; p++, bp += ldb) {
                __m512 av = _mm512_set1_ps(ai[p * csa]);
                s0 = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp), s0);
                s1 = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp + 16), s1);
                s2 = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp + 32), s2);
                s3 = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp + 48), s3);
            }
            __m512 sums[4] = {s0, s1, s2, s3};
            for (int q = 0; q < 4; q++) {
                __m512 r = _mm512_mul_ps(va, sums[q]);
                if (beta != 0.0f)
                    r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + j + 16 * q), r);
                _mm512_storeu_ps(ci + j + 16 * q, r);
            }
        }
        for (; j < j1; j += 16) {
            ptrdiff_t left = j1 - j;
            __mmask16 mk = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
            __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
            __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
            const float *bp = b + j;
            ptrdiff_t p = 0;
            for (; p + 4 <= k; p += 4, bp += 4 * ldb) {
                s0 = _mm512_fmadd_ps(_mm512_set1_ps(ai[p * csa]),
                                     _mm512_maskz_loadu_ps(mk, bp), s0);
                s1 = _mm512_fmadd_ps(_mm512_set1_ps(ai[(p + 1) * csa]),
                                     _mm512_maskz_loadu_ps(mk, bp + ldb), s1);
                s2 = _mm512_fmadd_ps(_mm512_set1_ps(ai[(p + 2) * csa]),
                                     _mm512_maskz_loadu_ps(mk, bp + 2 * ldb), s2);
                s3 = _mm512_fmadd_ps(_mm512_set1_ps(ai[(p + 3) * csa]),
                                     _mm512_maskz_loadu_ps(mk, bp + 3 * ldb), s3);
            }
            for (; p < k; p++, bp += ldb)
                s0 = _mm512_fmadd_ps(_mm512_set1_ps(ai[p * csa]),
                                     _mm512_maskz_loadu_ps(mk, bp), s0);
            __m512 r = _mm512_mul_ps(va, _mm512_add_ps(_mm512_add_ps(s0, s1),
                                                       _mm512_add_ps(s2, s3)));
            if (beta != 0.0f)
                r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, ci + j), r);
            _mm512_mask_storeu_ps(ci + j, mk, r);
        }
    }
}
#endif

/* Block sizes as measured: the portable and AVX-512 sets keep the ones
 * they were tuned with (on a Xeon with 2 MiB of L2 per core, the AVX2
 * set's rule, 240 rows, made 128^3 to 1024^3 products 10-40 % slower than
 * 72); the AVX2 set's A block (MC x KC floats) takes a share of L2 set in
 * pynn_gemm_kernels_init. */
static pynn_gemm_kernel_set set_generic = {MR6, NR16, micro_generic, direct_generic, NULL,
                                           4, 72, 256, 4096};
#ifdef PYNN_HAVE_AVX2_KERNELS
static pynn_gemm_kernel_set set_avx2 = {MR6, NR16, micro_avx2, direct_avx2, rows_avx2,
                                        8, 72, 256, 4096};
/* (The AVX-512 set's tiles of 8 rows take 8 rows whole: it streams 4.) */
static pynn_gemm_kernel_set set_avx512 = {MR8, NR32, micro_avx512, direct_avx512,
                                          rows_avx512, 4, 72, 256, 4096};
#endif

void pynn_gemm_kernels_init(size_t l1d, size_t l2)
{
    (void)l1d;
#ifdef PYNN_HAVE_AVX2_KERNELS
    /* A quarter of L2 for the A block, the rest for the B panels passing
     * through and C: on a 512 KiB L2 (Zen 3) 120 rows of 256 steps.  No
     * more than 120: on a 2 MiB L2 (a Xeon held to AVX2) 240 rows made
     * 512^3 to 2048^3 products 10-15 % slower. */
    if (l2 >= 64 * 1024) {
        ptrdiff_t rows = (ptrdiff_t)(l2 / 4 / (sizeof(float) * set_avx2.kc));
        rows = rows / 24 * 24; /* a multiple of every tile height */
        set_avx2.mc = PYNN_MAX(48, PYNN_MIN(rows, 120));
    }
#else
    (void)l2;
#endif
}

const pynn_gemm_kernel_set *pynn_gemm_kernels(int level)
{
#ifdef PYNN_HAVE_AVX2_KERNELS
    if (level >= PYNN_CPU_AVX512)
        return &set_avx512;
    if (level >= PYNN_CPU_AVX2)
        return &set_avx2;
#endif
    (void)level;
    return &set_generic;
}
