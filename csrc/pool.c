/*
 * pool.c - max and average pooling over NHWC data (global pooling is the
 * whole image as one window).  Channels are innermost, so every inner loop
 * runs over contiguous floats.  Threads split the n * oh output rows in the
 * forward pass and the samples in the backward pass, whose windows may
 * overlap within a sample but never across samples.
 */
#include "pynn.h"
#include "internal.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* The window of output pixel (oy, ox), clipped to the input. */
typedef struct {
    ptrdiff_t y0, y1, x0, x1;
} window;

static window window_at(const pynn_pool_shape *s, ptrdiff_t oy, ptrdiff_t ox)
{
    window w;
    w.y0 = oy * s->sh - s->pad_top;
    w.x0 = ox * s->sw - s->pad_left;
    w.y1 = PYNN_MIN(w.y0 + s->ph, s->h);
    w.x1 = PYNN_MIN(w.x0 + s->pw, s->w);
    w.y0 = PYNN_MAX(w.y0, 0);
    w.x0 = PYNN_MAX(w.x0, 0);
    return w;
}

/* Whether every window holds at least one input pixel and every size the
 * loops form fits: the forward pass reads a window's first pixel, and
 * the mean divides by the pixel count. */
static int pool_shape_valid(const pynn_pool_shape *s)
{
    if (s->n < 0 || s->h < 0 || s->w < 0 || s->c < 0 || s->oh < 0 || s->ow < 0 ||
        s->ph < 1 || s->pw < 1 || s->sh < 1 || s->sw < 1 || s->pad_top < 0 ||
        s->pad_left < 0)
        return 0;
    const ptrdiff_t in[] = {s->n, s->h, s->w, s->c}, out[] = {s->n, s->oh, s->ow, s->c};
    ptrdiff_t t, out_size, ly, lx;
    if (pynn_size_product(in, 4, &t) || pynn_size_product(out, 4, &out_size) ||
        pynn_mul_size(s->oh, s->sh, &ly) || pynn_mul_size(s->ow, s->sw, &lx) ||
        __builtin_add_overflow(ly, s->ph, &t) || __builtin_add_overflow(lx, s->pw, &t))
        return 0;
    if (out_size == 0) /* no window is read */
        return 1;
    /* the first window starts before its padding ends; the last starts
     * inside the input */
    return s->h > 0 && s->w > 0 && s->pad_top < s->ph && s->pad_left < s->pw &&
           ly - s->sh - s->pad_top < s->h && lx - s->sw - s->pad_left < s->w;
}

static inline __attribute__((always_inline)) void
max_rows_body(const pynn_pool_shape *s, const float *x, float *y, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t c = s->c;
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t n = r / s->oh, oy = r % s->oh;
        const float *xn = x + n * s->h * s->w * c;
        for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
            window w = window_at(s, oy, ox);
            float *restrict out = y + (r * s->ow + ox) * c;
            /* The window's first pixel starts the maximum and only a larger
             * value or a NaN replaces it: the first maximum in scan order
             * wins (the backward pass relies on it), and a NaN anywhere in
             * the window gives NaN, as NumPy's max does. */
            const float *restrict first = xn + (w.y0 * s->w + w.x0) * c;
            for (ptrdiff_t ch = 0; ch < c; ch++) out[ch] = first[ch];
            for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
                for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                    const float *restrict xp = xn + (iy * s->w + ix) * c;
                    for (ptrdiff_t ch = 0; ch < c; ch++) {
                        float v = xp[ch], m = out[ch];
                        out[ch] = (v > m || v != v) ? v : m;
                    }
                }
        }
    }
}

/* The forward loop compiled per instruction set (as activation.c's). */
PYNN_PER_LEVEL(static, max_rows_auto, max_rows_body,
               (const pynn_pool_shape *s, const float *x, float *y, ptrdiff_t r0,
                ptrdiff_t r1),
               (s, x, y, r0, r1))

#if defined(__x86_64__) || defined(__i386__)
/* The maximum of m and v as max_rows_body takes it: v when v > m or v is
 * a NaN, else m.  maxps(v, m) is v > m ? v : m, which keeps a NaN m (and
 * m on ties) but drops a NaN v; the blend puts that one back. */
__attribute__((target("avx2,fma"))) static inline __m256 max_keep_nan(__m256 m, __m256 v)
{
    return _mm256_blendv_ps(_mm256_max_ps(v, m), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/* One window's maximum over W vectors of channels from c0 (W = 4: 32
 * channels in four independent chains; W = 1 with mask: the last < 8).
 * pair: the window is 2 x 2 pixels, unrolled. */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
max_window_avx2(const int W, const int masked, const int pair, const pynn_pool_shape *s,
                const float *xn, window w, float *out, ptrdiff_t c0, __m256i mask)
{
    const ptrdiff_t c = s->c, row = s->w * c;
    const float *first = xn + w.y0 * row + w.x0 * c + c0;
    __m256 m[4];
    for (int i = 0; i < W; i++)
        m[i] = masked ? _mm256_maskload_ps(first, mask) : _mm256_loadu_ps(first + 8 * i);
#define MAX_WITH(PTR)                                                          \
    for (int i = 0; i < W; i++)                                                \
        m[i] = max_keep_nan(m[i], masked ? _mm256_maskload_ps((PTR), mask)     \
                                         : _mm256_loadu_ps((PTR) + 8 * i))
    if (pair) {
        MAX_WITH(first + c);
        MAX_WITH(first + row);
        MAX_WITH(first + row + c);
    } else {
        for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
            for (ptrdiff_t ix = iy == w.y0 ? w.x0 + 1 : w.x0; ix < w.x1; ix++)
                MAX_WITH(xn + iy * row + ix * c + c0);
    }
#undef MAX_WITH
    for (int i = 0; i < W; i++) {
        if (masked)
            _mm256_maskstore_ps(out + c0, mask, m[i]);
        else
            _mm256_storeu_ps(out + c0 + 8 * i, m[i]);
    }
}

/* Max pooling with the channels in AVX2 registers: each window's
 * maximum is kept in registers over its pixels (the portable loop keeps it
 * in y and reloads it per pixel). */
__attribute__((target("avx2,fma")))
static void max_rows_avx2(const pynn_pool_shape *s, const float *x, float *y, ptrdiff_t r0,
                          ptrdiff_t r1)
{
    const ptrdiff_t c = s->c, c32 = c / 32 * 32, c8 = c / 8 * 8;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(c - c8)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t n = r / s->oh, oy = r % s->oh;
        const float *xn = x + n * s->h * s->w * c;
        for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
            window w = window_at(s, oy, ox);
            float *out = y + (r * s->ow + ox) * c;
            if (w.y1 - w.y0 == 2 && w.x1 - w.x0 == 2) {
                for (ptrdiff_t c0 = 0; c0 < c32; c0 += 32)
                    max_window_avx2(4, 0, 1, s, xn, w, out, c0, mask);
                for (ptrdiff_t c0 = c32; c0 < c8; c0 += 8)
                    max_window_avx2(1, 0, 1, s, xn, w, out, c0, mask);
                if (c8 < c)
                    max_window_avx2(1, 1, 1, s, xn, w, out, c8, mask);
                continue;
            }
            for (ptrdiff_t c0 = 0; c0 < c32; c0 += 32)
                max_window_avx2(4, 0, 0, s, xn, w, out, c0, mask);
            for (ptrdiff_t c0 = c32; c0 < c8; c0 += 8)
                max_window_avx2(1, 0, 0, s, xn, w, out, c0, mask);
            if (c8 < c)
                max_window_avx2(1, 1, 0, s, xn, w, out, c8, mask);
        }
    }
}
#endif

static void max_rows(const pynn_pool_shape *s, const float *x, float *y, ptrdiff_t r0,
                     ptrdiff_t r1)
{
#if defined(__x86_64__) || defined(__i386__)
    if (pynn_cpu_level() >= PYNN_CPU_AVX2) {
        max_rows_avx2(s, x, y, r0, r1);
        return;
    }
#endif
    max_rows_auto(s, x, y, r0, r1);
}

/* The work of a pass over every window: output size times window size. */
static ptrdiff_t pool_work(const pynn_pool_shape *s)
{
    return pynn_work(s->n * s->oh * s->ow * s->c, pynn_work(s->ph, s->pw));
}

int pynn_max_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y)
{
    PYNN_FTZ_SCOPE;
    if (!pool_shape_valid(s))
        return PYNN_EINVAL;
    ptrdiff_t rows = s->n * s->oh;
    /* Split where the convolution before it splits (the same least work):
     * the input was just written by the convolution's threads, each owning
     * a band of rows, and each pooling thread reads mostly its own band
     * from its own cache. */
    int nt = pynn_team_threads(pynn_work(pool_work(s), 2), PYNN_FORWARD_MIN_WORK,
                               PYNN_FORWARD_HOT_MIN_WORK);
    PYNN_PARALLEL_RANGE(nt, rows, max_rows(s, x, y, lo, hi));
    return PYNN_OK;
}

/* One pixel of a window in the backward pass: the gradient goes to the
 * first pixel (in scan order) holding the window's maximum m, which is the
 * one the forward pass took; `taken` marks the channels already routed.
 * A NaN maximum came from the window's first pixel.  Branch-free, so it
 * vectorizes; it adds into dst (windows may overlap). */
static inline __attribute__((always_inline)) void
route_first_max(const float *restrict xp, const float *restrict m, const float *restrict g,
                int32_t *restrict taken, float *restrict dst, ptrdiff_t c)
{
    for (ptrdiff_t ch = 0; ch < c; ch++) {
        int32_t hit = pynn_mask_of((xp[ch] == m[ch]) | (m[ch] != m[ch])) & ~taken[ch];
        taken[ch] |= hit;
        dst[ch] += pynn_pick(hit, g[ch], 0.0f);
    }
}

/* Routes one window's gradient for `len` channels (at most 16) with the
 * marks of the channels already routed held in a small local array, which
 * the compiler keeps in registers when len is the constant 16: one vector
 * compare, mark and store per pixel.  Writes every pixel of the window. */
static inline __attribute__((always_inline)) void
route_window(const float *restrict xw, float *restrict dw, ptrdiff_t row_stride, ptrdiff_t c,
             ptrdiff_t ph, ptrdiff_t pw, const float *restrict m, const float *restrict g,
             const ptrdiff_t len)
{
    int32_t taken[16];
    for (ptrdiff_t j = 0; j < len; j++) taken[j] = 0;
    for (ptrdiff_t iy = 0; iy < ph; iy++)
        for (ptrdiff_t ix = 0; ix < pw; ix++) {
            const float *restrict xp = xw + iy * row_stride + ix * c;
            float *restrict dp = dw + iy * row_stride + ix * c;
            for (ptrdiff_t j = 0; j < len; j++) {
                int32_t hit = pynn_mask_of((xp[j] == m[j]) | (m[j] != m[j])) & ~taken[j];
                taken[j] |= hit;
                dp[j] = pynn_pick(hit, g[j], 0.0f);
            }
        }
}

/* Windows that never overlap and lie wholly inside the input (strides at
 * least the window, no padding: 2 x 2 pools with stride 2, the common
 * case): each input pixel is in one window at most, so dx is written window
 * by window, and only the pixels no window covers are zeroed first (the
 * general loop below zeroes all of dx and adds into it: 128 samples'
 * 11x11x64 under 2x2 windows, one thread, 0.26 ms, here 0.17).  The
 * routing marks stay in registers. */
static inline __attribute__((always_inline)) void
max_backward_disjoint_body(const pynn_pool_shape *s, const float *x, const float *y,
                           const float *dy, float *dx, ptrdiff_t n0, ptrdiff_t n1)
{
    const ptrdiff_t c = s->c, in_size = s->h * s->w * c, out_size = s->oh * s->ow * c;
    const ptrdiff_t row = s->w * c, cov_h = s->oh * s->ph, cov_w = s->ow * s->pw;
    const int gaps = s->sh != s->ph || s->sw != s->pw;
    for (ptrdiff_t n = n0; n < n1; n++) {
        const float *xn = x + n * in_size;
        float *dn = dx + n * in_size;
        if (gaps) {
            memset(dn, 0, in_size * sizeof(float));
        } else {
            if (cov_w < s->w)
                for (ptrdiff_t iy = 0; iy < cov_h; iy++)
                    memset(dn + iy * row + cov_w * c, 0, (s->w - cov_w) * c * sizeof(float));
            memset(dn + cov_h * row, 0, (s->h - cov_h) * row * sizeof(float));
        }
        for (ptrdiff_t oy = 0; oy < s->oh; oy++)
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                ptrdiff_t o = n * out_size + (oy * s->ow + ox) * c;
                ptrdiff_t at = oy * s->sh * row + ox * s->sw * c;
                ptrdiff_t ch = 0;
                for (; ch + 16 <= c; ch += 16)
                    route_window(xn + at + ch, dn + at + ch, row, c, s->ph, s->pw, y + o + ch,
                                 dy + o + ch, 16);
                if (ch < c)
                    route_window(xn + at + ch, dn + at + ch, row, c, s->ph, s->pw, y + o + ch,
                                 dy + o + ch, c - ch);
            }
    }
}

PYNN_PER_LEVEL(, pynn_max_pool_route, max_backward_disjoint_body,
               (const pynn_pool_shape *s, const float *x, const float *y, const float *dy,
                float *dx, ptrdiff_t n0, ptrdiff_t n1),
               (s, x, y, dy, dx, n0, n1))

int pynn_pool_windows_disjoint(const pynn_pool_shape *s)
{
    return pool_shape_valid(s) && s->sh >= s->ph && s->sw >= s->pw && s->pad_top == 0 &&
           s->pad_left == 0 && (s->oh - 1) * s->sh + s->ph <= s->h &&
           (s->ow - 1) * s->sw + s->pw <= s->w;
}

/* The general case: windows that overlap (3 x 3 with stride 2) or are
 * clipped by padding add into a zeroed dx. */
static inline __attribute__((always_inline)) void
max_backward_body(const pynn_pool_shape *s, const float *x, const float *y, const float *dy,
                  float *dx, int32_t *taken, ptrdiff_t n0, ptrdiff_t n1)
{
    const ptrdiff_t c = s->c, in_size = s->h * s->w * c, out_size = s->oh * s->ow * c;
    memset(dx + n0 * in_size, 0, (n1 - n0) * in_size * sizeof(float));
    for (ptrdiff_t n = n0; n < n1; n++) {
        const float *xn = x + n * in_size;
        float *dn = dx + n * in_size;
        for (ptrdiff_t oy = 0; oy < s->oh; oy++)
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                window w = window_at(s, oy, ox);
                ptrdiff_t o = n * out_size + (oy * s->ow + ox) * c;
                for (ptrdiff_t ch = 0; ch < c; ch++) taken[ch] = 0;
                for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
                    for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                        ptrdiff_t at = (iy * s->w + ix) * c;
                        route_first_max(xn + at, y + o, dy + o, taken, dn + at, c);
                    }
            }
    }
}

PYNN_PER_LEVEL(static, max_backward, max_backward_body,
               (const pynn_pool_shape *s, const float *x, const float *y, const float *dy,
                float *dx, int32_t *taken, ptrdiff_t n0, ptrdiff_t n1),
               (s, x, y, dy, dx, taken, n0, n1))

static int max_backward_samples(const pynn_pool_shape *s, const float *x, const float *y,
                                const float *dy, float *dx, ptrdiff_t n0, ptrdiff_t n1)
{
    if (pynn_pool_windows_disjoint(s)) {
        pynn_max_pool_route(s, x, y, dy, dx, n0, n1);
        return 0;
    }
    int32_t *taken = (int32_t *)pynn_scratch(PYNN_SCRATCH_GRAD, (size_t)s->c);
    if (!taken)
        return -1;
    max_backward(s, x, y, dy, dx, taken, n0, n1);
    return 0;
}

int pynn_max_pool2d_backward(const pynn_pool_shape *s, const float *x, const float *y,
                             const float *dy, float *dx)
{
    PYNN_FTZ_SCOPE;
    if (!pool_shape_valid(s))
        return PYNN_EINVAL;
    int nt = pynn_threads_for(s->n * s->h * s->w * s->c);
    if (nt <= 1)
        return max_backward_samples(s, x, y, dy, dx, 0, s->n);
    int failed = 0;
#pragma omp parallel num_threads(nt) reduction(| : failed)
    {
        PYNN_FTZ_SCOPE;
        ptrdiff_t lo, hi;
        pynn_thread_range(s->n, &lo, &hi);
        failed |= max_backward_samples(s, x, y, dy, dx, lo, hi) != 0;
    }
    return failed ? -1 : 0;
}

static void avg_rows(const pynn_pool_shape *s, const float *x, float *y, ptrdiff_t r0,
                     ptrdiff_t r1)
{
    const ptrdiff_t c = s->c;
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t n = r / s->oh, oy = r % s->oh;
        const float *xn = x + n * s->h * s->w * c;
        for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
            window w = window_at(s, oy, ox);
            float *out = y + (r * s->ow + ox) * c;
            for (ptrdiff_t ch = 0; ch < c; ch++) out[ch] = 0.0f;
            for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
                for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                    const float *xp = xn + (iy * s->w + ix) * c;
                    for (ptrdiff_t ch = 0; ch < c; ch++) out[ch] += xp[ch];
                }
            float inv = 1.0f / (float)((w.y1 - w.y0) * (w.x1 - w.x0));
            for (ptrdiff_t ch = 0; ch < c; ch++) out[ch] *= inv;
        }
    }
}

int pynn_avg_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y)
{
    PYNN_FTZ_SCOPE;
    if (!pool_shape_valid(s))
        return PYNN_EINVAL;
    ptrdiff_t rows = s->n * s->oh;
    int nt = pynn_team_threads(pynn_work(pool_work(s), 2), PYNN_FORWARD_MIN_WORK,
                               PYNN_FORWARD_HOT_MIN_WORK);
    PYNN_PARALLEL_RANGE(nt, rows, avg_rows(s, x, y, lo, hi));
    return PYNN_OK;
}

static void avg_backward_samples(const pynn_pool_shape *s, const float *dy, float *dx,
                                 ptrdiff_t n0, ptrdiff_t n1)
{
    const ptrdiff_t c = s->c, in_size = s->h * s->w * c;
    memset(dx + n0 * in_size, 0, (n1 - n0) * in_size * sizeof(float));
    for (ptrdiff_t n = n0; n < n1; n++) {
        float *dn = dx + n * in_size;
        for (ptrdiff_t oy = 0; oy < s->oh; oy++)
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                window w = window_at(s, oy, ox);
                const float *g = dy + ((n * s->oh + oy) * s->ow + ox) * c;
                float inv = 1.0f / (float)((w.y1 - w.y0) * (w.x1 - w.x0));
                for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
                    for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                        float *dp = dn + (iy * s->w + ix) * c;
                        for (ptrdiff_t ch = 0; ch < c; ch++) dp[ch] += g[ch] * inv;
                    }
            }
    }
}

int pynn_avg_pool2d_backward(const pynn_pool_shape *s, const float *dy, float *dx)
{
    PYNN_FTZ_SCOPE;
    if (!pool_shape_valid(s))
        return PYNN_EINVAL;
    int nt = pynn_threads_for(pool_work(s));
    PYNN_PARALLEL_RANGE(nt, s->n, avg_backward_samples(s, dy, dx, lo, hi));
    return PYNN_OK;
}
