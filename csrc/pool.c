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

/* out = max(out, xp) per channel, arg recording where a new maximum came
 * from; branch-free with unaliased pointers so the compiler vectorizes it. */
static void max_update(const float *restrict xp, float *restrict out, int32_t *restrict arg,
                       int32_t base, ptrdiff_t c)
{
    for (ptrdiff_t ch = 0; ch < c; ch++) {
        float v = xp[ch], o = out[ch];
        int32_t better = -(int32_t)(v > o);
        out[ch] = v > o ? v : o;
        arg[ch] = (arg[ch] & ~better) | ((base + (int32_t)ch) & better);
    }
}

/* dst[ch] = g[ch] where the maximum came from this pixel, else 0. */
static void route(const float *restrict g, const int32_t *restrict arg, int32_t base,
                  float *restrict dst, ptrdiff_t c)
{
    for (ptrdiff_t ch = 0; ch < c; ch++) {
        float v = g[ch]; /* loaded unconditionally so the select vectorizes */
        dst[ch] = arg[ch] == base + (int32_t)ch ? v : 0.0f;
    }
}

static void max_rows(const pynn_pool_shape *s, const float *x, float *y, int32_t *argmax,
                     ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t c = s->c;
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t n = r / s->oh, oy = r % s->oh;
        const float *xn = x + n * s->h * s->w * c;
        for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
            window w = window_at(s, oy, ox);
            float *out = y + (r * s->ow + ox) * c;
            int32_t *arg = argmax ? argmax + (r * s->ow + ox) * c : NULL;
            /* The first pixel of the window starts the maximum, so a window
             * of NaNs or -inf still records a valid position. */
            ptrdiff_t first = (w.y0 * s->w + w.x0) * c;
            for (ptrdiff_t ch = 0; ch < c; ch++) out[ch] = xn[first + ch];
            if (arg)
                for (ptrdiff_t ch = 0; ch < c; ch++) arg[ch] = (int32_t)(first + ch);
            for (ptrdiff_t iy = w.y0; iy < w.y1; iy++) {
                for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                    ptrdiff_t at = (iy * s->w + ix) * c;
                    const float *xp = xn + at;
                    if (arg) {
                        max_update(xp, out, arg, (int32_t)at, c);
                    } else {
                        for (ptrdiff_t ch = 0; ch < c; ch++)
                            out[ch] = xp[ch] > out[ch] ? xp[ch] : out[ch];
                    }
                }
            }
        }
    }
}

void pynn_max_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y,
                             int32_t *argmax)
{
    PYNN_FTZ_SCOPE;
    ptrdiff_t rows = s->n * s->oh;
    int nt = pynn_threads_for(rows * s->ow * s->c * s->ph * s->pw);
    PYNN_PARALLEL_RANGE(nt, rows, max_rows(s, x, y, argmax, lo, hi));
}

static void max_backward_samples(const pynn_pool_shape *s, const float *dy,
                                 const int32_t *argmax, float *dx, ptrdiff_t n0, ptrdiff_t n1)
{
    const ptrdiff_t c = s->c, in_size = s->h * s->w * c, out_size = s->oh * s->ow * c;
    /* Windows that neither overlap nor leave gaps (pool 2, stride 2 on an
     * even image) cover each input pixel once: write dx window by window
     * instead of zeroing it and scattering into it. */
    int tiles = s->sh == s->ph && s->sw == s->pw && s->pad_top == 0 && s->pad_left == 0 &&
                s->oh * s->sh == s->h && s->ow * s->sw == s->w;
    if (!tiles)
        memset(dx + n0 * in_size, 0, (n1 - n0) * in_size * sizeof(float));
    for (ptrdiff_t n = n0; n < n1; n++) {
        float *dn = dx + n * in_size;
        const float *g = dy + n * out_size;
        const int32_t *arg = argmax + n * out_size;
        if (!tiles) {
            for (ptrdiff_t i = 0; i < out_size; i++) dn[arg[i]] += g[i];
            continue;
        }
        for (ptrdiff_t oy = 0; oy < s->oh; oy++)
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                ptrdiff_t o = (oy * s->ow + ox) * c;
                for (ptrdiff_t iy = oy * s->sh; iy < (oy + 1) * s->sh; iy++)
                    for (ptrdiff_t ix = ox * s->sw; ix < (ox + 1) * s->sw; ix++) {
                        ptrdiff_t at = (iy * s->w + ix) * c;
                        route(g + o, arg + o, (int32_t)at, dn + at, c);
                    }
            }
    }
}

void pynn_max_pool2d_backward(const pynn_pool_shape *s, const float *dy,
                              const int32_t *argmax, float *dx)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(s->n * s->h * s->w * s->c);
    PYNN_PARALLEL_RANGE(nt, s->n, max_backward_samples(s, dy, argmax, dx, lo, hi));
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

void pynn_avg_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y)
{
    PYNN_FTZ_SCOPE;
    ptrdiff_t rows = s->n * s->oh;
    int nt = pynn_threads_for(rows * s->ow * s->c * s->ph * s->pw);
    PYNN_PARALLEL_RANGE(nt, rows, avg_rows(s, x, y, lo, hi));
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

void pynn_avg_pool2d_backward(const pynn_pool_shape *s, const float *dy, float *dx)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(s->n * s->oh * s->ow * s->c * s->ph * s->pw);
    PYNN_PARALLEL_RANGE(nt, s->n, avg_backward_samples(s, dy, dx, lo, hi));
}
