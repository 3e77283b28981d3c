/*
 * gemm.c - single-precision matrix product, Goto/BLIS style.
 *
 * Loop nest: for each NC-wide column block of B and KC-deep slice of k, B is
 * packed once into NR-wide panels (shared by the team, L3-sized); each
 * MC-row block of A is packed into MR-row panels (per thread, L2-sized); the
 * micro-kernel then walks MR x NR tiles with the panels streaming from L1.
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

#include <stdlib.h>
#include <string.h>

#define MC 72   /* multiple of every MR; an A block of MC x KC floats is 72 KiB (L2) */
#define KC 256
#define NC 4096 /* multiple of every NR; a B slice of KC x NC floats is 4 MiB (L3) */

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

/* A[i0:i0+mc, p0:p0+kc] into MR-row panels, MR floats per k step. */
static void pack_a(int MR, ptrdiff_t mc, ptrdiff_t kc, const float *a, ptrdiff_t rsa,
                   ptrdiff_t csa, float *dst)
{
    for (ptrdiff_t ir = 0; ir < mc; ir += MR) {
        int rows = (int)PYNN_MIN(MR, mc - ir);
        const float *src = a + ir * rsa;
        if (csa == 1 && rows == MR) {
            for (ptrdiff_t p = 0; p < kc; p++)
                for (int r = 0; r < MR; r++) dst[p * MR + r] = src[r * rsa + p];
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

/* Panels [q0, q1) of B[p0:p0+kc, j0:j0+nc] (NR columns each, NR floats per
 * k step) into dst. */
static void pack_b(int NR, ptrdiff_t kc, ptrdiff_t nc, const float *b, ptrdiff_t rsb,
                   ptrdiff_t csb, float *dst, ptrdiff_t q0, ptrdiff_t q1)
{
    for (ptrdiff_t q = q0; q < q1; q++) {
        ptrdiff_t j = q * NR;
        int cols = (int)PYNN_MIN(NR, nc - j);
        float *d = dst + q * NR * kc;
        const float *src = b + j * csb;
        if (csb == 1 && cols == NR) {
            for (ptrdiff_t p = 0; p < kc; p++) memcpy(d + p * NR, src + p * rsb, NR * sizeof(float));
        } else {
            for (ptrdiff_t p = 0; p < kc; p++) {
                int c = 0;
                for (; c < cols; c++) d[p * NR + c] = src[p * rsb + c * csb];
                for (; c < NR; c++) d[p * NR + c] = 0.0f;
            }
        }
    }
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

/* One work item: row block mb of A, packed into apack, against the packed
 * B panels [q0, q1). */
static void run_item(const pynn_gemm_kernel_set *ks, ptrdiff_t mb, ptrdiff_t q0,
                     ptrdiff_t q1, ptrdiff_t m, ptrdiff_t nc, ptrdiff_t kc, float alpha,
                     const float *a, ptrdiff_t rsa, ptrdiff_t csa, float *apack,
                     const float *bpack, float beta, float *c, ptrdiff_t ldc)
{
    const int MR = ks->mr, NR = ks->nr;
    pynn_micro_kernel micro = ks->micro;
    ptrdiff_t i0 = mb * MC, mc = PYNN_MIN(MC, m - i0);
    pack_a(MR, mc, kc, a + i0 * rsa, rsa, csa, apack);
    for (ptrdiff_t q = q0; q < q1; q++) {
        ptrdiff_t j = q * NR;
        int nr = (int)PYNN_MIN(NR, nc - j);
        for (ptrdiff_t ir = 0; ir < mc; ir += MR) {
            int mr = (int)PYNN_MIN(MR, mc - ir);
            micro(kc, apack + ir * kc, bpack + q * NR * kc, c + (i0 + ir) * ldc + j, ldc,
                  mr, nr, alpha, beta);
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

static void sgemm_on(int nt, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
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
    const int NR = ks->nr;
    pynn_direct_kernel direct = ks->direct;
    ptrdiff_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
    ptrdiff_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;

    if (m <= 4 && !trans_b) {
        /* A few rows (one sample's predict): stream B once, no packing.
         * Threads take column ranges aligned to the SIMD width. */
        /* Reading B dominates here, so it is B's size that decides whether a
         * second core (and its own cache) pays off. */
        if (nt > 1)
            nt = pynn_threads_for(n * k / 2);
        ptrdiff_t chunks = nt > 1 ? nt : 1;
        PYNN_PARALLEL_RANGE(nt, chunks, direct_chunk(direct, m, n, k, alpha, a, rsa, csa, b,
                                                     ldb, beta, c, ldc, lo, hi, chunks));
        return;
    }

    /* Every buffer is taken here, before C is touched, so running out of
     * memory falls back cleanly instead of leaving C half computed. */
    const ptrdiff_t a_size = MC * KC;
    float *bpack = pynn_scratch(PYNN_SCRATCH_GEMM_B, (size_t)KC * round_up(PYNN_MIN(n, NC), NR));
    float *apacks = bpack ? pynn_scratch(PYNN_SCRATCH_GEMM_A, (size_t)a_size * nt) : NULL;
    if (!apacks) {
        gemm_unpacked(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc);
        return;
    }
    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = PYNN_MIN(NC, n - jc), panels = (nc + NR - 1) / NR;
        ptrdiff_t mblocks = (m + MC - 1) / MC;
        /* Split the panels too when there are fewer row blocks than threads. */
        ptrdiff_t chunks = mblocks >= nt ? 1 : PYNN_MIN(nt, panels);
        ptrdiff_t items = mblocks * chunks;
        /* Equal k slices of at most KC: 784 = 4 x 196, not 3 x 256 + 16. */
        ptrdiff_t slices = (k + KC - 1) / KC, kstep = (k + slices - 1) / slices;
        for (ptrdiff_t pc = 0; pc < k; pc += kstep) {
            ptrdiff_t kc = PYNN_MIN(kstep, k - pc);
            float beta_eff = pc == 0 ? beta : 1.0f;
            const float *ap = a + pc * csa, *bp = b + pc * rsb + jc * csb;
            float *cp = c + jc;
            if (nt > 1) {
#pragma omp parallel num_threads(nt)
                {
                    ptrdiff_t lo, hi;
                    pynn_thread_range(panels, &lo, &hi);
                    pack_b(NR, kc, nc, bp, rsb, csb, bpack, lo, hi);
                    float *apack = apacks + a_size * pynn_thread_id();
#pragma omp barrier
#pragma omp for schedule(static)
                    for (ptrdiff_t it = 0; it < items; it++) {
                        ptrdiff_t mb = it / chunks, ch = it % chunks;
                        run_item(ks, mb, panels * ch / chunks, panels * (ch + 1) / chunks,
                                 m, nc, kc, alpha, ap, rsa, csa, apack, bpack, beta_eff, cp, ldc);
                    }
                }
            } else {
                pack_b(NR, kc, nc, bp, rsb, csb, bpack, 0, panels);
                for (ptrdiff_t mb = 0; mb < mblocks; mb++)
                    run_item(ks, mb, 0, panels, m, nc, kc, alpha, ap, rsa, csa, apacks,
                             bpack, beta_eff, cp, ldc);
            }
        }
    }
}

void pynn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                float alpha, const float *a, ptrdiff_t lda,
                const float *b, ptrdiff_t ldb,
                float beta, float *c, ptrdiff_t ldc)
{
    sgemm_on(pynn_threads_for(m * n * k / 8), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
             beta, c, ldc);
}

void pynn_sgemm_serial(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc)
{
    sgemm_on(1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
