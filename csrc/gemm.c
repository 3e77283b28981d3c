/*
 * gemm.c - single-precision matrix product, Goto/BLIS style.
 *
 * Loop nest: for each NC-wide column block of B and KC-deep slice of k, B is
 * packed once into NR-wide panels (shared by the team, L3-sized); each
 * MC-row block of A is packed into MR-row panels (per thread, L2-sized); the
 * micro-kernel then walks MR x NR tiles with the panels streaming from L1.
 * MC, KC and NC belong to the kernel set and follow the cache sizes found
 * at start-up (gemm_kernels.c).
 * Packing reads the caller's arrays through (row, column) strides, so all
 * four transpose cases run without copying them, and pads edge panels with
 * zeros so odd sizes take the same fast kernel.
 *
 * Threads split the row blocks of A, or, when there are fewer row blocks
 * than threads (the small batches of dense training), the column panels of
 * B.  Every element of C is summed in the same order whatever the split, so
 * results do not depend on the thread count.
 */
#include "pynn.h"
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A product no deeper than this takes one k slice: C is then loaded and
 * stored once (a 3x3x32 convolution's 288 would otherwise be 2 x 144),
 * and a slice's B panel (KC_MAX x NR floats) still fits L1. */
#define KC_MAX PYNN_GEMM_KC_MAX

/* Work buffers, kept per thread between calls and grown when needed: the
 * GEMM's packing buffers and the other kernels' scratch (im2col columns). */
typedef struct {
    float *p;
    size_t cap;
} buffer;

static _Thread_local buffer tl_buffers[PYNN_SCRATCH_SLOTS];

float *pynn_scratch(int slot, size_t floats)
{
    buffer *buf = &tl_buffers[slot];
    /* A request for nothing (a layer with no channels) still gets a valid
     * buffer: NULL means out of memory to every caller. */
    if (floats == 0)
        floats = 1;
    if (floats > (SIZE_MAX - 63) / sizeof(float))
        return NULL;
    if (floats > buf->cap) {
        size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
        float *p = aligned_alloc(64, bytes);
        if (!p)
            return NULL;
        free(buf->p);
        buf->p = p;
        buf->cap = floats;
    }
    return buf->p;
}

static ptrdiff_t round_up(ptrdiff_t x, ptrdiff_t to) { return (x + to - 1) / to * to; }

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Transposes the 8x8 block in r: r[j] becomes column j (r[0][j], ...,
 * r[7][j]). */
__attribute__((target("avx2,fma"), always_inline))
static inline void transpose8x8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* dst[p * 8 + r] = src[r * rsa + p] for p < kc, r < 8: eight rows of A into
 * one panel, eight columns at a time through an 8x8 register transpose. */
__attribute__((target("avx2,fma")))
static void pack_a8_transpose(ptrdiff_t kc, const float *src, ptrdiff_t rsa, float *dst)
{
    ptrdiff_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * rsa + p);
        transpose8x8(r);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + p * 8 + 8 * i, r[i]);
    }
    for (; p < kc; p++)
        for (int r = 0; r < 8; r++) dst[p * 8 + r] = src[r * rsa + p];
}

/* The same for the AVX2 kernels' six-row panels: two zero rows complete
 * the 8x8 block, and each column's first six floats are stored, the 8-wide
 * stores overlapping forward (the last one split so that nothing is
 * written past the 48 floats). */
__attribute__((target("avx2,fma")))
static void pack_a6_transpose(ptrdiff_t kc, const float *src, ptrdiff_t rsa, float *dst)
{
    ptrdiff_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int i = 0; i < 6; i++) r[i] = _mm256_loadu_ps(src + i * rsa + p);
        r[6] = r[7] = _mm256_setzero_ps();
        transpose8x8(r);
        float *d = dst + p * 6;
        for (int i = 0; i < 7; i++) _mm256_storeu_ps(d + 6 * i, r[i]);
        __m128 lo = _mm256_castps256_ps128(r[7]);
        _mm_storeu_ps(d + 42, lo);
        _mm_storel_pi((__m64 *)(d + 46), _mm256_extractf128_ps(r[7], 1));
    }
    for (; p < kc; p++)
        for (int r = 0; r < 6; r++) dst[p * 6 + r] = src[r * rsa + p];
}
/* dst[p * 8 + r] = src[p * csa + r]: a transposed A's eight contiguous
 * floats per k step, one vector move each. */
__attribute__((target("avx2,fma")))
static void pack_a8_copy(ptrdiff_t kc, const float *src, ptrdiff_t csa, float *dst)
{
    for (ptrdiff_t p = 0; p < kc; p++)
        _mm256_storeu_ps(dst + p * 8, _mm256_loadu_ps(src + p * csa));
}
/* The same for six-row panels: four floats and two per k step. */
__attribute__((target("avx2,fma")))
static void pack_a6_copy(ptrdiff_t kc, const float *src, ptrdiff_t csa, float *dst)
{
    for (ptrdiff_t p = 0; p < kc; p++) {
        const float *s = src + p * csa;
        _mm_storeu_ps(dst + p * 6, _mm_loadu_ps(s));
        /* two floats through an unaligned 64-bit move (a double * cast
         * would claim an alignment the rows do not have) */
        _mm_storel_epi64((__m128i_u *)(dst + p * 6 + 4),
                         _mm_loadl_epi64((const __m128i_u *)(s + 4)));
    }
}

/* Whole NR-wide panels [q0, q1) of a row-major B (k x n, row stride rsb)
 * into dst, panels KC_MAX * NR floats apart: four rows at a time across
 * every panel, so B is read row after row (a panel at a time, the reads
 * jump a whole row per step and ran at a third of the speed on a
 * 2048-wide B). */
__attribute__((target("avx2,fma"), always_inline))
static inline void pack_b_rows_avx2_nr(const int NR, ptrdiff_t kc, const float *b, ptrdiff_t rsb,
                                       float *dst, ptrdiff_t q0, ptrdiff_t q1)
{
    for (ptrdiff_t p0 = 0; p0 < kc; p0 += 4) {
        ptrdiff_t p1 = PYNN_MIN(p0 + 4, kc);
        for (ptrdiff_t q = q0; q < q1; q++) {
            float *d = dst + q * NR * KC_MAX;
            const float *src = b + q * NR;
            for (ptrdiff_t p = p0; p < p1; p++)
                for (int c = 0; c < NR; c += 8)
                    _mm256_storeu_ps(d + p * NR + c, _mm256_loadu_ps(src + p * rsb + c));
        }
    }
}

/* One copy per panel width, so the copies of a row unroll. */
__attribute__((target("avx2,fma")))
static void pack_b_rows_avx2(int NR, ptrdiff_t kc, const float *b, ptrdiff_t rsb, float *dst,
                             ptrdiff_t q0, ptrdiff_t q1)
{
    if (NR == 32)
        pack_b_rows_avx2_nr(32, kc, b, rsb, dst, q0, q1);
    else
        pack_b_rows_avx2_nr(16, kc, b, rsb, dst, q0, q1);
}

/* The same from a transposed B (B^T row-major, n x k, row stride csb):
 * each panel's NR rows of B^T, eight k steps at a time, through 8x8
 * register transposes instead of NR gathers per step. */
__attribute__((target("avx2,fma")))
static void pack_b_transpose_avx2(int NR, ptrdiff_t kc, const float *b, ptrdiff_t csb,
                                  float *dst, ptrdiff_t q0, ptrdiff_t q1)
{
    for (ptrdiff_t q = q0; q < q1; q++) {
        float *d = dst + q * NR * KC_MAX;
        const float *src = b + q * NR * csb;
        ptrdiff_t p = 0;
        for (; p + 8 <= kc; p += 8)
            for (int c0 = 0; c0 < NR; c0 += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (c0 + i) * csb + p);
                transpose8x8(r);
                for (int i = 0; i < 8; i++) _mm256_storeu_ps(d + (p + i) * NR + c0, r[i]);
            }
        for (; p < kc; p++)
            for (int c = 0; c < NR; c++) d[p * NR + c] = src[c * csb + p];
    }
}
#define PYNN_HAVE_PACK_A8_TRANSPOSE 1
#endif

/* A[i0:i0+mc, p0:p0+kc] into MR-row panels, MR floats per k step.  Inlined
 * into one copy per tile height, so MR is a constant in its loops. */
static inline __attribute__((always_inline)) void
pack_a_rows(const int MR, ptrdiff_t mc, ptrdiff_t kc, const float *a, ptrdiff_t rsa,
            ptrdiff_t csa, float *dst)
{
    for (ptrdiff_t ir = 0; ir < mc; ir += MR) {
        int rows = (int)PYNN_MIN(MR, mc - ir);
        const float *src = a + ir * rsa;
        if (rows == MR && csa == 1) {
            /* Row-major A: each panel is a transpose. */
#ifdef PYNN_HAVE_PACK_A8_TRANSPOSE
            if (pynn_cpu_level() >= PYNN_CPU_AVX2 && (MR == 8 || MR == 6)) {
                if (MR == 8)
                    pack_a8_transpose(kc, src, rsa, dst);
                else
                    pack_a6_transpose(kc, src, rsa, dst);
                dst += MR * kc;
                continue;
            }
#endif
            for (ptrdiff_t p = 0; p < kc; p++)
                for (int r = 0; r < MR; r++) dst[p * MR + r] = src[r * rsa + p];
        } else if (rows == MR && rsa == 1) {
            /* Transposed A (a weight gradient's x^T): MR contiguous floats
             * per k step, a plain copy. */
#ifdef PYNN_HAVE_PACK_A8_TRANSPOSE
            if (pynn_cpu_level() >= PYNN_CPU_AVX2 && (MR == 8 || MR == 6)) {
                if (MR == 8)
                    pack_a8_copy(kc, src, csa, dst);
                else
                    pack_a6_copy(kc, src, csa, dst);
                dst += MR * kc;
                continue;
            }
#endif
            for (ptrdiff_t p = 0; p < kc; p++)
                for (int r = 0; r < MR; r++) dst[p * MR + r] = src[p * csa + r];
        } else {
            for (ptrdiff_t p = 0; p < kc; p++) {
                int r = 0;
                for (; r < rows; r++) dst[p * MR + r] = src[r * rsa + p * csa];
                for (; r < MR; r++) dst[p * MR + r] = 0.0f;
            }
        }
        dst += MR * kc;
    }
}

static void pack_a(int MR, ptrdiff_t mc, ptrdiff_t kc, const float *a, ptrdiff_t rsa,
                   ptrdiff_t csa, float *dst)
{
    if (MR == 8)
        pack_a_rows(8, mc, kc, a, rsa, csa, dst);
    else
        pack_a_rows(6, mc, kc, a, rsa, csa, dst);
}

/* Panels [q0, q1) of B[p0:p0+kc, j0:j0+nc] (NR columns each, NR floats per
 * k step) into dst; inlined per panel width like pack_a_rows. */
static inline __attribute__((always_inline)) void
pack_b_panels(const int NR, ptrdiff_t kc, ptrdiff_t nc, const float *b, ptrdiff_t rsb,
              ptrdiff_t csb, float *dst, ptrdiff_t q0, ptrdiff_t q1)
{
    for (ptrdiff_t q = q0; q < q1; q++) {
        ptrdiff_t j = q * NR;
        int cols = (int)PYNN_MIN(NR, nc - j);
        /* Panels sit KC_MAX floats apart whatever this slice's kc: a thread
         * packing its panels for the next slice must not reach into another
         * thread's panel that is still in use. */
        float *d = dst + q * NR * KC_MAX;
        const float *src = b + j * csb;
        if (csb == 1 && cols == NR) {
            for (ptrdiff_t p = 0; p < kc; p++)
                for (int c = 0; c < NR; c++) d[p * NR + c] = src[p * rsb + c];
        } else {
            for (ptrdiff_t p = 0; p < kc; p++) {
                int c = 0;
                for (; c < cols; c++) d[p * NR + c] = src[p * rsb + c * csb];
                for (; c < NR; c++) d[p * NR + c] = 0.0f;
            }
        }
    }
}

static void pack_b(int NR, ptrdiff_t kc, ptrdiff_t nc, const float *b, ptrdiff_t rsb,
                   ptrdiff_t csb, float *dst, ptrdiff_t q0, ptrdiff_t q1)
{
#ifdef PYNN_HAVE_PACK_A8_TRANSPOSE
    if (pynn_cpu_level() >= PYNN_CPU_AVX2 && (csb == 1 || rsb == 1)) {
        /* Whole panels by vectors; a last partial one below. */
        ptrdiff_t whole = PYNN_MIN(q1, nc / NR);
        if (q0 < whole) {
            if (csb == 1)
                pack_b_rows_avx2(NR, kc, b, rsb, dst, q0, whole);
            else
                pack_b_transpose_avx2(NR, kc, b, csb, dst, q0, whole);
            q0 = whole;
        }
        if (q0 >= q1)
            return;
    }
#endif
    if (NR == 32)
        pack_b_panels(32, kc, nc, b, rsb, csb, dst, q0, q1);
    else
        pack_b_panels(16, kc, nc, b, rsb, csb, dst, q0, q1);
}

static void scale_c(ptrdiff_t m, ptrdiff_t n, float beta, float *c, ptrdiff_t ldc)
{
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

/* Plain triple loop: used only if a packing buffer cannot be allocated. */
static void gemm_unpacked(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                          const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                          const float *b, ptrdiff_t rsb, ptrdiff_t csb,
                          float beta, float *c, ptrdiff_t ldc)
{
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++) {
            float s = 0.0f;
            for (ptrdiff_t p = 0; p < k; p++) s += a[i * rsa + p * csa] * b[p * rsb + j * csb];
            c[i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
        }
}

/* One work item: row block mb of A, packed into apack (or read in place
 * by the set's rows kernel when apack is NULL: A is then row-major),
 * against the packed B panels [q0, q1). */
static void run_item(const pynn_gemm_kernel_set *ks, ptrdiff_t i0, ptrdiff_t mc, ptrdiff_t q0,
                     ptrdiff_t q1, ptrdiff_t nc, ptrdiff_t kc, float alpha,
                     const float *a, ptrdiff_t rsa, ptrdiff_t csa, float *apack,
                     const float *bpack, const float *b, ptrdiff_t rsb, float beta, float *c,
                     ptrdiff_t ldc)
{
    const int MR = ks->mr, NR = ks->nr;
    pynn_micro_kernel micro = ks->micro;
    if (apack)
        pack_a(MR, mc, kc, a + i0 * rsa, rsa, csa, apack);
    for (ptrdiff_t q = q0; q < q1; q++) {
        ptrdiff_t j = q * NR;
        int nr = (int)PYNN_MIN(NR, nc - j);
        for (ptrdiff_t ir = 0, mr; ir < mc; ir += mr) {
            /* In place, the last 7 or 8 rows take two tiles of 4 and 3 or
             * 4, not 6 and 1 or 2: a tile of one or two rows has too few
             * sums to cover the FMA latency (32 rows: 5 % faster). */
            mr = PYNN_MIN(MR, mc - ir);
            if (!apack && (mc - ir == MR + 1 || mc - ir == MR + 2))
                mr = 4;
            if (apack)
                micro(kc, apack + ir * kc, bpack + q * NR * KC_MAX, c + (i0 + ir) * ldc + j,
                      ldc, (int)mr, nr, alpha, beta);
            else if (b && nr == NR)
                ks->rows(kc, a + (i0 + ir) * rsa, rsa, b + j, rsb, c + (i0 + ir) * ldc + j,
                         ldc, (int)mr, nr, alpha, beta);
            else
                ks->rows(kc, a + (i0 + ir) * rsa, rsa, bpack + q * NR * KC_MAX, NR,
                         c + (i0 + ir) * ldc + j, ldc, (int)mr, nr, alpha, beta);
        }
    }
}

/* Columns [n*lo/chunks, n*hi/chunks) of the direct product, the bounds
 * rounded to the SIMD width. */
static void direct_chunk(pynn_direct_kernel direct, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                         float alpha, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                         const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc,
                         ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t chunks)
{
    ptrdiff_t j0 = PYNN_MIN(round_up(n * lo / chunks, 16), n);
    ptrdiff_t j1 = PYNN_MIN(round_up(n * hi / chunks, 16), n);
    if (j0 < j1)
        direct(m, j0, j1, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc);
}

/* Slices [s0, s1) of k (kstep rows of B each) of a few rows' product, each
 * into its own m x n block of part. */
static void direct_slices(pynn_direct_kernel direct, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                          ptrdiff_t kstep, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                          const float *b, ptrdiff_t ldb, float *part, ptrdiff_t s0, ptrdiff_t s1)
{
    for (ptrdiff_t s = s0; s < s1; s++) {
        ptrdiff_t pc = s * kstep, kc = PYNN_MIN(kstep, k - pc);
        direct(m, 0, n, kc, 1.0f, a + pc * csa, rsa, csa, b + pc * ldb, ldb, 0.0f,
               part + s * m * n, n);
    }
}

/* direct_slices' operands, for one slice at a time on the quick team. */
typedef struct {
    pynn_direct_kernel direct;
    ptrdiff_t m, n, k, kstep;
    const float *a;
    ptrdiff_t rsa, csa;
    const float *b;
    ptrdiff_t ldb;
    float *part;
} slices_args;

static void slice_piece(void *arg, ptrdiff_t s)
{
    const slices_args *g = arg;
    direct_slices(g->direct, g->m, g->n, g->k, g->kstep, g->a, g->rsa, g->csa, g->b, g->ldb,
                  g->part, s, s + 1);
}

/* C = alpha * (the slices' sums, added in slice order) + beta * C (C not
 * read where beta is 0). */
static void add_slices(ptrdiff_t m, ptrdiff_t n, ptrdiff_t slices, const float *part,
                       float alpha, float beta, float *c, ptrdiff_t ldc)
{
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (ptrdiff_t j = 0; j < n; j++) {
            float v = part[i * n + j];
            for (ptrdiff_t s = 1; s < slices; s++) v += part[(s * m + i) * n + j];
            ci[j] = beta != 0.0f ? alpha * v + beta * ci[j] : alpha * v;
        }
    }
}

/* The operands of one product and its buffers. */
typedef struct {
    const pynn_gemm_kernel_set *ks;
    ptrdiff_t m, n, k;
    float alpha;
    const float *a;
    ptrdiff_t rsa, csa;
    const float *b;
    ptrdiff_t rsb, csb;
    float beta;
    float *c;
    ptrdiff_t ldc;
    float *apacks, *bpack;
    int nt;
    int a_in_place; /* through the set's rows kernel, A not packed */
    pynn_pieces *pieces; /* the team's, in a team */
} gemm_args;

/* Piece q of [0, n) cut into `pieces` nearly equal ranges, in units of
 * `unit` (the last one ends at n). */
static void piece_range(ptrdiff_t n, ptrdiff_t unit, ptrdiff_t pieces, ptrdiff_t q,
                        ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t units = (n + unit - 1) / unit;
    *lo = PYNN_MIN(units * q / pieces * unit, n);
    *hi = PYNN_MIN(units * (q + 1) / pieces * unit, n);
}

/* The loop nest, run by every thread of a team (in_team) or by the caller
 * alone.  In a team, the pieces of the work are dealt as pynn_pieces says:
 * each thread takes its own share first (the same rows of C in every
 * slice and every call, so they stay in its cache), then what is left of
 * the others' (a thread whose core another process also wants then does
 * less, instead of holding every other thread at the next barrier).
 * Each element of C is still summed by one tile in one order, so results
 * do not depend on who took which piece.
 * Few rows with A read in place: the pieces are B's panels, each packed and
 * multiplied by all of A by the thread that takes it, nobody waiting.
 * Otherwise, per k slice: the team packs B's panels, then multiplies the
 * row pieces by them (a barrier after each loop: the next slice
 * overwrites the packed B).  Barriers are issued only in a team of
 * this GEMM's own, never in a caller's team. */
static void gemm_blocks(const gemm_args *g, int in_team)
{
    const pynn_gemm_kernel_set *ks = g->ks;
    const int NR = ks->nr, nt = g->nt;
    const ptrdiff_t m = g->m, n = g->n, k = g->k;
    const ptrdiff_t MC = ks->mc, KC = ks->kc, NC = ks->nc;
    float *apack = g->a_in_place ? NULL
                                 : g->apacks + (in_team ? MC * KC_MAX * pynn_thread_id() : 0);
    /* Equal k slices of at most KC: 784 = 4 x 196, not 3 x 256 + 16. */
    const ptrdiff_t slices = k <= KC_MAX ? 1 : (k + KC - 1) / KC;
    const ptrdiff_t kstep = (k + slices - 1) / slices;
    /* Row pieces: equal shares in whole MR-row panels, at most MC rows
     * each, a multiple of the team's size (1024 rows on two threads: ten
     * of 102-103, not 8 and 7 blocks of 120). */
    const ptrdiff_t row_pieces = nt * ((m + MC * nt - 1) / (MC * nt));
    const int t = in_team ? pynn_thread_id() : 0;
    ptrdiff_t base = 0; /* the pieces dealt so far (pynn_pieces_take) */
    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = PYNN_MIN(NC, n - jc), panels = (nc + NR - 1) / NR;
        float *cp = g->c + jc;
        const float *bj = g->b + jc * g->csb;
        const int few_rows = m <= MC * nt && panels >= nt;
        /* Up to 96 rows, with A read in place, the rows kernel reads B's
         * whole panels where they are too (a last partial panel is still
         * packed, zero-padded): packing copies all of B for only a few
         * row tiles to pass it (32 x 784 x 128: 8 % faster on AVX2, 2 %
         * on AVX-512; 8 x 784 x 128 a third faster; 32 x 512 x 512 10-20
         * %; 128 rows or more the same or slower).  Not where B's rows are
         * longer than 2 KiB: a panel's rows 4 KiB apart fall into a few
         * cache sets and evict each other (32 x 1024 x 1024: 1.4x the
         * packed time). */
        const ptrdiff_t full = nc / NR;
        const int b_in_place = g->a_in_place && g->csb == 1 && g->rsb <= 512 && m <= 96;
        if (in_team && few_rows && g->a_in_place) {
            /* Few rows (a training batch): the pieces are B's panels, one
             * a piece (its packed slice stays in L1 while every row tile
             * passes it), except where B's rows are long (512 floats or
             * more): a panel's 64 bytes a row then sit 2 KiB or more
             * apart, and runs of panels read B a few hundred bytes at a
             * time (8 x 1024 x 1024 on two threads: 0.66-0.84 of OpenBLAS
             * with single panels). */
            const ptrdiff_t pieces = g->csb == 1 && g->rsb >= 512 ? PYNN_MIN(panels, 4 * nt)
                                                                 : panels;
            int turn = 0;
            for (ptrdiff_t q; (q = pynn_pieces_take(g->pieces, base, pieces, t, &turn)) >= 0;) {
                ptrdiff_t lo, hi;
                piece_range(panels, 1, pieces, q, &lo, &hi);
                for (ptrdiff_t pc = 0; pc < k; pc += kstep) {
                    ptrdiff_t kc = PYNN_MIN(kstep, k - pc);
                    pack_b(NR, kc, nc, bj + pc * g->rsb, g->rsb, g->csb, g->bpack,
                           b_in_place ? PYNN_MAX(lo, full) : lo, hi);
                    run_item(ks, 0, m, lo, hi, nc, kc, g->alpha, g->a + pc * g->csa, g->rsa,
                             g->csa, NULL, g->bpack, b_in_place ? bj + pc * g->rsb : NULL,
                             g->rsb, pc == 0 ? g->beta : 1.0f, cp, g->ldc);
                }
            }
            base += pieces;
            /* the next column block overwrites the packed B */
#pragma omp barrier
            continue;
        }
        if (!in_team || few_rows) {
            /* The caller alone: all of B's panels.  Few rows with A packed
             * (kernel sets without an in-place form, whose copy every
             * thread makes once per slice): a fixed range of panels per
             * thread. */
            ptrdiff_t lo = 0, hi = panels;
            if (in_team)
                pynn_thread_range(panels, &lo, &hi);
            for (ptrdiff_t pc = 0; pc < k; pc += kstep) {
                ptrdiff_t kc = PYNN_MIN(kstep, k - pc);
                pack_b(NR, kc, nc, bj + pc * g->rsb, g->rsb, g->csb, g->bpack,
                       b_in_place ? PYNN_MAX(lo, full) : lo, hi);
                for (ptrdiff_t i0 = 0; i0 < m; i0 += MC)
                    run_item(ks, i0, PYNN_MIN(MC, m - i0), lo, hi, nc, kc, g->alpha,
                             g->a + pc * g->csa, g->rsa, g->csa, apack, g->bpack,
                             b_in_place ? bj + pc * g->rsb : NULL, g->rsb,
                             pc == 0 ? g->beta : 1.0f, cp, g->ldc);
            }
            /* the next column block overwrites the packed B */
            if (in_team) {
#pragma omp barrier
            }
            continue;
        }
        /* Panels packed in runs (B read row after row across a run's
         * panels), a few runs per thread. */
        const ptrdiff_t pack_pieces = PYNN_MIN(panels, 4 * nt);
        for (ptrdiff_t pc = 0; pc < k; pc += kstep) {
            ptrdiff_t kc = PYNN_MIN(kstep, k - pc);
            int turn = 0;
            for (ptrdiff_t q;
                 (q = pynn_pieces_take(g->pieces, base, pack_pieces, t, &turn)) >= 0;) {
                ptrdiff_t lo, hi;
                piece_range(panels, 1, pack_pieces, q, &lo, &hi);
                pack_b(NR, kc, nc, bj + pc * g->rsb, g->rsb, g->csb, g->bpack, lo, hi);
            }
            base += pack_pieces;
#pragma omp barrier
            turn = 0;
            for (ptrdiff_t q;
                 (q = pynn_pieces_take(g->pieces, base, row_pieces, t, &turn)) >= 0;) {
                ptrdiff_t r0, r1;
                piece_range(m, ks->mr, row_pieces, q, &r0, &r1);
                for (ptrdiff_t i0 = r0; i0 < r1; i0 += MC)
                    run_item(ks, i0, PYNN_MIN(MC, r1 - i0), 0, panels, nc, kc, g->alpha,
                             g->a + pc * g->csa, g->rsa, g->csa, apack, g->bpack, NULL, 0,
                             pc == 0 ? g->beta : 1.0f, cp, g->ldc);
            }
            base += row_pieces;
            /* the next slice overwrites the packed B */
#pragma omp barrier
        }
    }
}

/* The least of B's floats at which a few rows' product against a long B
 * (more than KC_MAX rows) is summed in k slices, which the team takes
 * while awake (see sgemm_on). */
#define FEW_ROWS_TEAM_MIN ((ptrdiff_t)1 << 16)

/* Threads for a product of m x n x k multiply-adds: one per Mi of them.
 * Waking a sleeping team costs tens of microseconds (and far more when
 * another process holds a core), so smaller products run on the caller
 * alone: 2 threads from 2 Mi (measured: 64^3 to 96^3 and 16x256x256 were
 * slower threaded, 128^3 faster on an idle machine), a whole 16-core team
 * from about 256^3.  While the team is still awake from the last region
 * (a forward pass's next layer, the next predict of a stream), forking
 * costs about a microsecond and 2 threads start at 256 Ki. */
static int gemm_threads(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k)
{
    ptrdiff_t work = pynn_work(pynn_work(m, n), k);
    /* (fewer than 64 columns split into row pieces, which meet at a
     * barrier per k slice: not worth an awake team) */
    int nt = pynn_team_threads(work, (ptrdiff_t)2 << 20, n >= 64 ? (ptrdiff_t)1 << 18 : (ptrdiff_t)2 << 20);
    if (nt <= 1)
        return 1;
    ptrdiff_t per_thread = work / (1024 * 1024);
    return per_thread < nt ? (per_thread > 2 ? (int)per_thread : 2) : nt;
}

/* Whether the set's direct kernel takes the product (few rows, B
 * row-major): up to 4 rows always, up to the set's stream_rows where B is
 * streamed. */
static int direct_product(const pynn_gemm_kernel_set *ks, int trans_b, ptrdiff_t m, ptrdiff_t n,
                          ptrdiff_t k)
{
    return !trans_b && (m <= 4 || (m <= ks->stream_rows &&
                                   pynn_work(n, k) > PYNN_GEMM_STREAM_MIN));
}

static void sgemm_on(int nt, int quick, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                     float alpha, const float *a, ptrdiff_t lda,
                     const float *b, ptrdiff_t ldb,
                     float beta, float *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    const pynn_gemm_kernel_set *ks = pynn_gemm_kernels(pynn_cpu_level());
    ptrdiff_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
    ptrdiff_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;

    if (direct_product(ks, trans_b, m, n, k)) {
        /* A few rows (one sample's predict): stream B once, no packing. */
        /* (Only where a team could take the slices: on one thread the
         * slices' partial sums cost 0.3-0.4 us of a 6 us predict.  No
         * more slices than threads set: two threads each with one half
         * of 784 x 128, not two quarters, 5.6-5.9 -> 5.4-5.6 us an MLP
         * predict: a caller done with its own quarters took the other's
         * last quarter, read from the other core's L2, whenever that
         * thread had entered a few tenths of a microsecond late.) */
        const ptrdiff_t slices = k <= KC_MAX || pynn_get_num_threads() < 2 ||
                                         pynn_work(n, k) < FEW_ROWS_TEAM_MIN
                                     ? 1
                                     : PYNN_MIN((ptrdiff_t)pynn_get_num_threads(),
                                                (k + ks->kc - 1) / ks->kc);
        float *part = slices > 1 ? pynn_scratch(PYNN_SCRATCH_GEMM_A, (size_t)(slices * m * n))
                                 : NULL;
        if (part) {
            /* A long B (784 x 128: 400 KB, read at L2's bandwidth, 3.7 us
             * of a 6 us MLP predict) in k slices,
             * each summed alone and the sums added in slice order, so the
             * bits do not depend on which threads took them, nor on
             * whether the team was awake (they do on the thread count set,
             * as the backward passes' sums do).  Threads take whole
             * slices, each thread reading its rows of B from one
             * contiguous block that stays in its own L2 from one predict
             * to the next (split by columns instead, each thread read
             * half of every row and gained little: 4.8 -> 4.35 us). */
            const ptrdiff_t kstep = (k + slices - 1) / slices;
            const ptrdiff_t used = (k + kstep - 1) / kstep;
            const int team = (int)PYNN_MIN((ptrdiff_t)nt, used);
            if (quick) {
                slices_args sa = {ks->direct, m, n, k, kstep, a, rsa, csa, b, ldb, part};
                pynn_quick_run(team, used, slice_piece, &sa);
            } else {
                PYNN_PARALLEL_RANGE(team, used,
                                    direct_slices(ks->direct, m, n, k, kstep, a, rsa, csa, b,
                                                  ldb, part, lo, hi));
            }
            add_slices(m, n, used, part, alpha, beta, c, ldc);
            return;
        }
        /* Threads take column ranges aligned to the SIMD width.  A single
         * sample's layer of up to 320 rows fits one core's L2 and takes a
         * few microseconds: one thread. */
        nt = PYNN_MIN(nt, gemm_threads(m, n, k));
        ptrdiff_t chunks = nt > 1 ? nt : 1;
        PYNN_PARALLEL_RANGE(nt, chunks, direct_chunk(ks->direct, m, n, k, alpha, a, rsa, csa,
                                                     b, ldb, beta, c, ldc, lo, hi, chunks));
        return;
    }

    /* Sixteen columns or fewer (a classifier's output layer) take the
     * AVX2 set's 16-wide tiles: the AVX-512 tile's 32 would multiply
     * zeros for more than half its columns (32 x 128 x 10: 2.7 us, not
     * 4.1).  Both sets' tiles sum in the same order: the same results.
     * (A few rows keep their own set's direct kernel above, whose
     * 16-column blocks waste nothing.) */
    if (n <= 16 && ks->nr > 16)
        ks = pynn_gemm_kernels(PYNN_CPU_AVX2);
    const int NR = ks->nr;

    /* Every buffer is taken here, before C is touched, so running out of
     * memory falls back cleanly instead of leaving C half computed. */
    const ptrdiff_t a_size = ks->mc * KC_MAX;
    float *bpack = pynn_scratch(PYNN_SCRATCH_GEMM_B,
                                (size_t)KC_MAX * round_up(PYNN_MIN(n, ks->nc), NR));
    float *apacks = bpack ? pynn_scratch(PYNN_SCRATCH_GEMM_A, (size_t)a_size * nt) : NULL;
    if (!apacks) {
        gemm_unpacked(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc);
        return;
    }
    /* A read in place up to a few hundred rows: beyond that (512^3,
     * 2048 x 2048 x 128) the packed copy, read contiguously by every
     * panel of B, measured 5-15 % faster. */
    int a_in_place = ks->rows && !trans_a && m <= 256;
    gemm_args g = {ks, m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc, apacks, bpack,
                   nt, a_in_place, NULL};
    if (nt > 1) {
        pynn_pieces pieces;
        pynn_pieces_init(&pieces, nt);
        g.pieces = &pieces;
        /* One team for the whole product: forking per k slice would cost
         * a fork and a join each time. */
        pynn_region region;
        pynn_region_fork(&region);
#pragma omp parallel num_threads(nt)
        {
            PYNN_FTZ_SCOPE;
            if (pynn_thread_id() > 0)
                pynn_region_enter(&region);
            gemm_blocks(&g, 1);
        }
        pynn_region_join(&region);
    } else {
        gemm_blocks(&g, 0);
    }
}

void pynn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                float alpha, const float *a, ptrdiff_t lda,
                const float *b, ptrdiff_t ldb,
                float beta, float *c, ptrdiff_t ldc)
{
    PYNN_FTZ_SCOPE;
    /* A few rows of a long B fork while the team is awake from 64 Ki of
     * B's floats (see sgemm_on): one sample through a 784 x 128 layer on
     * two threads, 4.40 -> 3.86 us a call of ops.matmul; the MLP
     * 784-128-128-10's one-sample predict 6.6-6.8 -> 6.0-6.1 us.  They
     * run on the quick team (cpu.c) unless OpenMP's is awake: on two
     * threads that predict 5.3-5.5 -> 4.8-4.9 us (LiteRT 5.0-5.2). */
    int quick = 0;
    int nt = k > KC_MAX && direct_product(pynn_gemm_kernels(pynn_cpu_level()), trans_b, m, n, k)
                 ? pynn_quick_threads(pynn_work(n, k), (ptrdiff_t)2 << 20, FEW_ROWS_TEAM_MIN,
                                      &quick)
                 : gemm_threads(m, n, k);
    sgemm_on(nt, quick, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void pynn_sgemm_serial(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc)
{
    sgemm_on(1, 0, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void batched_range(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                          float alpha, const float *a, ptrdiff_t lda, ptrdiff_t stride_a,
                          const float *b, ptrdiff_t ldb, ptrdiff_t stride_b, float beta,
                          float *c, ptrdiff_t ldc, ptrdiff_t stride_c, ptrdiff_t i0,
                          ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++)
        sgemm_on(1, 0, trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b,
                 ldb, beta, c + i * stride_c, ldc);
}

void pynn_sgemm_batched(ptrdiff_t count, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                        ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                        ptrdiff_t stride_a, const float *b, ptrdiff_t ldb, ptrdiff_t stride_b,
                        float beta, float *c, ptrdiff_t ldc, ptrdiff_t stride_c)
{
    PYNN_FTZ_SCOPE;
    if (count <= 0)
        return;
    ptrdiff_t work = pynn_work(pynn_work(m, n), k);
    /* Products big enough to use every core themselves run one after the
     * other; many small ones are shared out whole, one thread each. */
    if (count == 1 || gemm_threads(m, n, k) > 1) {
        for (ptrdiff_t i = 0; i < count; i++)
            pynn_sgemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda,
                       b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
        return;
    }
    int nt = gemm_threads(count, work, 1);
    PYNN_PARALLEL_RANGE(nt, count, batched_range(trans_a, trans_b, m, n, k, alpha, a, lda,
                                                 stride_a, b, ldb, stride_b, beta, c, ldc,
                                                 stride_c, lo, hi));
}

size_t pynn_gemm_packed_b_floats(ptrdiff_t k, ptrdiff_t n)
{
    if (k < 1 || k > KC_MAX || n < 1)
        return 0;
    return (size_t)KC_MAX * round_up(n, pynn_gemm_kernels(pynn_cpu_level())->nr);
}

void pynn_gemm_pack_b(ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *packed)
{
    const int NR = pynn_gemm_kernels(pynn_cpu_level())->nr;
    pack_b(NR, k, n, b, ldb, 1, packed, 0, (n + NR - 1) / NR);
}

void pynn_sgemm_packed_b_serial(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                                ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                                const float *packed_b, float beta, float *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    const pynn_gemm_kernel_set *ks = pynn_gemm_kernels(pynn_cpu_level());
    const ptrdiff_t MC = ks->mc;
    float *apack = packed_b && k >= 1 && k <= KC_MAX
                       ? pynn_scratch(PYNN_SCRATCH_GEMM_A, (size_t)MC * KC_MAX)
                       : NULL;
    if (!apack) {
        sgemm_on(1, 0, 0, 0, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    ptrdiff_t panels = (n + ks->nr - 1) / ks->nr;
    for (ptrdiff_t i0 = 0; i0 < m; i0 += MC)
        run_item(ks, i0, PYNN_MIN(MC, m - i0), 0, panels, n, k, 1.0f, a, lda, 1, apack,
                 packed_b, NULL, 0, beta, c, ldc);
}
