/* elementwise.c - dropout and the other noise layers' draws, row gathers for
 * batching, finiteness checks, activity penalties, merging. */
#include "pynn.h"
#include "internal.h"

#include <math.h>
#include <string.h>

/* splitmix64, for turning the caller's seed into two 32-bit keys. */
static inline uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* A 32-bit integer hash with good avalanche (two multiply-xorshift rounds).
 * Each element's draw is two rounds of it over (index, keys): a function of
 * the seed and the index alone, so the mask is the same for any thread
 * count, and made of 32-bit multiplies, which vectorize. */
static inline uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

static inline __attribute__((always_inline)) void
dropout_body(const float *restrict x, float *restrict y, uint8_t *restrict mask,
             uint32_t threshold, float scale, uint64_t keys, uint64_t offset, ptrdiff_t i0,
             ptrdiff_t i1)
{
    uint32_t k0 = (uint32_t)keys, k1 = (uint32_t)(keys >> 32);
    /* Element i draws at the global index offset + i.  The inner loop counts
     * in 32 bits (which vectorizes); the high half of the global index,
     * constant over each 2^32 block, joins the second key. */
    for (ptrdiff_t b = i0; b < i1;) {
        uint64_t g = offset + (uint64_t)b;
        ptrdiff_t room = (ptrdiff_t)(((g | 0xFFFFFFFFull) + 1) - g);
        ptrdiff_t e = PYNN_MIN(i1, b + room);
        uint32_t kb = k1 ^ (uint32_t)(g >> 32), u0 = (uint32_t)g;
        ptrdiff_t count = e - b;
        const float *xb = x + b;
        float *yb = y + b;
        uint8_t *mb = mask + b;
        for (ptrdiff_t j = 0; j < count; j++) {
            uint32_t r = mix32(mix32((u0 + (uint32_t)j) ^ k0) ^ kb);
            int32_t keep = (r >> 8) >= threshold; /* signed: converts to float in SIMD */
            mb[j] = (uint8_t)keep;
            /* Arithmetic, not a branch: the draws are random, so a branch
             * would be mispredicted half the time. */
            yb[j] = xb[j] * ((float)keep * scale);
        }
        b = e;
    }
}

PYNN_PER_LEVEL(static, dropout_range, dropout_body,
               (const float *x, float *y, uint8_t *mask, uint32_t threshold, float scale,
                uint64_t keys, uint64_t offset, ptrdiff_t i0, ptrdiff_t i1),
               (x, y, mask, threshold, scale, keys, offset, i0, i1))

void pynn_dropout_forward(const float *x, float *y, uint8_t *mask, ptrdiff_t n,
                          float rate, uint64_t seed, uint64_t offset)
{
    PYNN_FTZ_SCOPE;
    /* A rate outside [0, 1] (or NaN) is taken as the nearest bound: the
     * conversion below is undefined for values out of range. */
    if (!(rate >= 0.0f))
        rate = 0.0f;
    if (rate > 1.0f)
        rate = 1.0f;
    /* keep when the top 24 bits of the draw, as a fraction, are >= rate */
    uint32_t threshold = (uint32_t)((double)rate * 16777216.0);
    float scale = 1.0f / (1.0f - rate);
    uint64_t keys = splitmix64(seed);
    int nt = pynn_threads_for(n * 2);
    PYNN_PARALLEL_RANGE(nt, n,
                        dropout_range(x, y, mask, threshold, scale, keys, offset, lo, hi));
}

static void dropout_backward_range(const float *dy, const uint8_t *mask, float *dx,
                                   float scale, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        /* Arithmetic, not a branch on a random mask (see the forward pass). */
        dx[i] = dy[i] * ((float)mask[i] * scale);
    }
}

void pynn_dropout_backward(const float *dy, const uint8_t *mask, float *dx,
                           ptrdiff_t n, float rate)
{
    PYNN_FTZ_SCOPE;
    float scale = 1.0f / (1.0f - rate);
    int nt = pynn_threads_for(n);
    PYNN_PARALLEL_RANGE(nt, n, dropout_backward_range(dy, mask, dx, scale, lo, hi));
}

static void gather_range(const char *s, const int64_t *idx, char *d, ptrdiff_t row_bytes,
                         ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++)
        memcpy(d + i * row_bytes, s + idx[i] * row_bytes, (size_t)row_bytes);
}

void pynn_gather_rows(const void *src, const int64_t *idx, void *dst,
                      ptrdiff_t count, ptrdiff_t row_bytes)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(count * row_bytes / 4);
    PYNN_PARALLEL_RANGE(nt, count, gather_range((const char *)src, idx, (char *)dst,
                                                row_bytes, lo, hi));
}

/* x - x is 0 for finite x and NaN for inf/NaN; the sum stays NaN. */
static inline __attribute__((always_inline)) void
finite_body(const float *x, ptrdiff_t i0, ptrdiff_t i1, int *ok)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (ptrdiff_t i = i0; i < i1; i++) acc += x[i] - x[i];
    *ok = acc == 0.0f;
}

PYNN_PER_LEVEL(static, finite_range, finite_body,
               (const float *x, ptrdiff_t i0, ptrdiff_t i1, int *ok), (x, i0, i1, ok))

int pynn_all_finite(const float *x, ptrdiff_t n)
{
    PYNN_FTZ_SCOPE;
    /* Run once per fit over the whole input: worth both cores. */
    int nt = pynn_threads_for(n), all = 1;
    if (nt <= 1) {
        finite_range(x, 0, n, &all);
        return all;
    }
#pragma omp parallel num_threads(nt) reduction(& : all)
    {
        PYNN_FTZ_SCOPE;
        ptrdiff_t lo, hi;
        int ok;
        pynn_thread_range(n, &lo, &hi);
        finite_range(x, lo, hi, &ok);
        all &= ok;
    }
    return all;
}

/* ------------------------------------------------------------------
 * Merging: elementwise combinations of tensors, their gradients, and the
 * block copies of concatenation.  Each loop is compiled per instruction
 * set; the arrays are large (whole activations), so they split across
 * threads past pynn_threads_for's threshold.
 */

static inline __attribute__((always_inline)) void
binary_body(int op, const float *a, const float *b, float *y, ptrdiff_t i0, ptrdiff_t i1)
{
    switch (op) {
    case PYNN_BIN_ADD:
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = a[i] + b[i];
        break;
    case PYNN_BIN_SUB:
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = a[i] - b[i];
        break;
    case PYNN_BIN_MUL:
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = a[i] * b[i];
        break;
    case PYNN_BIN_DIV:
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = a[i] / b[i];
        break;
    case PYNN_BIN_MAX:
        /* Written out rather than fmaxf: NaN in either input gives NaN, as
         * NumPy's maximum does, and the select vectorizes. */
        for (ptrdiff_t i = i0; i < i1; i++) {
            float u = a[i], v = b[i];
            y[i] = (u >= v || u != u) ? u : v;
        }
        break;
    default: /* PYNN_BIN_MIN */
        for (ptrdiff_t i = i0; i < i1; i++) {
            float u = a[i], v = b[i];
            y[i] = (u <= v || u != u) ? u : v;
        }
        break;
    }
}

PYNN_PER_LEVEL(static, binary_range, binary_body,
               (int op, const float *a, const float *b, float *y, ptrdiff_t i0, ptrdiff_t i1),
               (op, a, b, y, i0, i1))

void pynn_binary(int op, const float *a, const float *b, float *y, ptrdiff_t n)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0)
        return;
    int nt = pynn_threads_for(n);
    PYNN_PARALLEL_RANGE(nt, n, binary_range(op, a, b, y, lo, hi));
}

static inline __attribute__((always_inline)) void
axpby_body(float alpha, const float *a, float beta, const float *b, float *y, ptrdiff_t i0,
           ptrdiff_t i1)
{
    if (b == NULL) {
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = alpha * a[i];
    } else {
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = alpha * a[i] + beta * b[i];
    }
}

PYNN_PER_LEVEL(static, axpby_range, axpby_body,
               (float alpha, const float *a, float beta, const float *b, float *y, ptrdiff_t i0,
                ptrdiff_t i1),
               (alpha, a, beta, b, y, i0, i1))

void pynn_axpby(float alpha, const float *a, float beta, const float *b, float *y, ptrdiff_t n)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0)
        return;
    int nt = pynn_threads_for(n);
    PYNN_PARALLEL_RANGE(nt, n, axpby_range(alpha, a, beta, b, y, lo, hi));
}

static void extremum_backward_range(int k, const float *const *xs, const float *y,
                                    const float *dy, float *const *dxs, ptrdiff_t i0,
                                    ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        float v = y[i];
        int winner = -1;
        for (int j = 0; j < k; j++) {
            float u = xs[j][i];
            if (u == v || (u != u && v != v)) {
                winner = j;
                break;
            }
        }
        for (int j = 0; j < k; j++)
            if (dxs[j] != NULL)
                dxs[j][i] = j == winner ? dy[i] : 0.0f;
    }
}

void pynn_extremum_backward(int k, const float *const *xs, const float *y, const float *dy,
                            float *const *dxs, ptrdiff_t n)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0 || k <= 0)
        return;
    int nt = pynn_threads_for(n * k);
    PYNN_PARALLEL_RANGE(nt, n, extremum_backward_range(k, xs, y, dy, dxs, lo, hi));
}

static void copy_rows(const float *src, ptrdiff_t lds, float *dst, ptrdiff_t ldd,
                      ptrdiff_t cols, ptrdiff_t r0, ptrdiff_t r1)
{
    for (ptrdiff_t r = r0; r < r1; r++)
        memcpy(dst + r * ldd, src + r * lds, (size_t)cols * sizeof(float));
}

void pynn_copy_2d(const float *src, ptrdiff_t lds, float *dst, ptrdiff_t ldd, ptrdiff_t rows,
                  ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    if (rows <= 0 || cols <= 0)
        return;
    int nt = pynn_threads_for(rows * cols);
    PYNN_PARALLEL_RANGE(nt, rows, copy_rows(src, lds, dst, ldd, cols, lo, hi));
}

/* Rows of x scaled to unit L2 norm: y = x / sqrt(max(sum x^2, eps)), as
 * Keras's l2_normalize; inv receives each row's 1 / sqrt(max(sum, eps)). */
static inline __attribute__((always_inline)) void
l2_body(const float *x, float *y, float *inv, ptrdiff_t cols, float eps, ptrdiff_t r0,
        ptrdiff_t r1)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float s = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) s += xr[j] * xr[j];
        float f = 1.0f / sqrtf(s > eps ? s : eps);
        inv[r] = f;
        for (ptrdiff_t j = 0; j < cols; j++) yr[j] = xr[j] * f;
    }
}

PYNN_PER_LEVEL(static, l2_range, l2_body,
               (const float *x, float *y, float *inv, ptrdiff_t cols, float eps, ptrdiff_t r0,
                ptrdiff_t r1),
               (x, y, inv, cols, eps, r0, r1))

void pynn_l2_normalize_rows(const float *x, float *y, float *inv, ptrdiff_t rows,
                            ptrdiff_t cols, float eps)
{
    PYNN_FTZ_SCOPE;
    if (rows <= 0)
        return;
    int nt = pynn_threads_for(rows * cols);
    PYNN_PARALLEL_RANGE(nt, rows, l2_range(x, y, inv, cols, eps, lo, hi));
}

/* dx = inv * (dy - y * (y . dy)) per row, where the row's sum of squares
 * was above eps (the clamp's derivative is zero otherwise: dx = inv * dy). */
static void l2_backward_range(const float *y, const float *inv, const float *dy, float *dx,
                              ptrdiff_t cols, float eps, const float *x, ptrdiff_t r0,
                              ptrdiff_t r1)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols, *xr = x + r * cols;
        float *dxr = dx + r * cols;
        float f = inv[r], s = 0.0f, dot = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) {
            s += xr[j] * xr[j];
            dot += yr[j] * dyr[j];
        }
        if (s <= eps)
            dot = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) dxr[j] = f * (dyr[j] - yr[j] * dot);
    }
}

void pynn_l2_normalize_backward_rows(const float *x, const float *y, const float *inv,
                                     const float *dy, float *dx, ptrdiff_t rows,
                                     ptrdiff_t cols, float eps)
{
    PYNN_FTZ_SCOPE;
    if (rows <= 0)
        return;
    int nt = pynn_threads_for(rows * cols);
    PYNN_PARALLEL_RANGE(nt, rows, l2_backward_range(y, inv, dy, dx, cols, eps, x, lo, hi));
}

/* ------------------------------------------------------------------
 * The noise and regularization layers: alpha dropout's affine map, normal
 * draws, per-sample channel scaling, activity penalties.
 */

/* y = mask ? x * scale + shift : fill, the mask a dropout's (alpha
 * dropout: kept values scaled and shifted, dropped ones set; its gradient
 * with shift and fill 0). */
static inline __attribute__((always_inline)) void
masked_affine_body(const float *x, const uint8_t *mask, float *y, float scale, float shift,
                   float fill, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        /* Arithmetic, not a branch on a random mask (see dropout). */
        float k = (float)mask[i];
        y[i] = k * (x[i] * scale + shift) + (1.0f - k) * fill;
    }
}

PYNN_PER_LEVEL(static, masked_affine_range, masked_affine_body,
               (const float *x, const uint8_t *mask, float *y, float scale, float shift,
                float fill, ptrdiff_t i0, ptrdiff_t i1),
               (x, mask, y, scale, shift, fill, i0, i1))

void pynn_masked_affine(const float *x, const uint8_t *mask, float *y, ptrdiff_t n,
                        float scale, float shift, float fill)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0)
        return;
    int nt = pynn_threads_for(n);
    PYNN_PARALLEL_RANGE(nt, n, masked_affine_range(x, mask, y, scale, shift, fill, lo, hi));
}

/* Normal draws by the Box-Muller transform of two uniform draws per
 * element, each a hash of (index, keys): a function of the seed and the
 * index alone, as dropout's. */
static void normal_range(float *y, float mean, float stddev, uint64_t keys, ptrdiff_t i0,
                         ptrdiff_t i1)
{
    uint32_t k0 = (uint32_t)keys, k1 = (uint32_t)(keys >> 32);
    for (ptrdiff_t i = i0; i < i1; i++) {
        uint32_t lo = (uint32_t)i, hi = (uint32_t)((uint64_t)i >> 32);
        uint32_t a = mix32(mix32(lo ^ k0) ^ hi ^ k1);
        uint32_t b = mix32(a ^ 0x9E3779B9u ^ k0);
        /* u1 in (0, 1] (never 0, so its log is finite), u2 in [0, 1). */
        double u1 = ((double)(a >> 8) + 1.0) / 16777216.0;
        double u2 = (double)(b >> 8) / 16777216.0;
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        y[i] = (float)(mean + stddev * z);
    }
}

void pynn_random_normal(float *y, ptrdiff_t n, float mean, float stddev, uint64_t seed)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0)
        return;
    uint64_t keys = splitmix64(seed ^ 0xD1B54A32D192ED03ull);
    int nt = pynn_threads_for(n * 16);
    PYNN_PARALLEL_RANGE(nt, n, normal_range(y, mean, stddev, keys, lo, hi));
}

static inline __attribute__((always_inline)) void
sample_channel_scale_body(const float *x, const float *scale, float *y, ptrdiff_t s,
                          ptrdiff_t c, ptrdiff_t r0, ptrdiff_t r1)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        const float *f = scale + (r / s) * c, *xr = x + r * c;
        float *yr = y + r * c;
        for (ptrdiff_t j = 0; j < c; j++) yr[j] = xr[j] * f[j];
    }
}

PYNN_PER_LEVEL(static, sample_channel_scale_range, sample_channel_scale_body,
               (const float *x, const float *scale, float *y, ptrdiff_t s, ptrdiff_t c,
                ptrdiff_t r0, ptrdiff_t r1),
               (x, scale, y, s, c, r0, r1))

void pynn_sample_channel_scale(const float *x, const float *scale, float *y, ptrdiff_t n,
                               ptrdiff_t s, ptrdiff_t c)
{
    PYNN_FTZ_SCOPE;
    ptrdiff_t rows = n * s;
    if (rows <= 0 || c <= 0)
        return;
    int nt = pynn_threads_for(rows * c);
    PYNN_PARALLEL_RANGE(nt, rows, sample_channel_scale_range(x, scale, y, s, c, lo, hi));
}

