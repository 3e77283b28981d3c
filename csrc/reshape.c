/*
 * reshape.c - kernels that move values without computing new ones (and
 * their gradients): padding and cropping (one window shift), image
 * resizing (nearest and bilinear, half-pixel centres), repetition along an
 * axis, and transposition.
 *
 * Rows (the last axes, contiguous) are copied with memcpy; threads split
 * the rows of the output, so no two threads write the same value.  The
 * resizing's backward pass adds into the input gradient, so its threads
 * split the samples instead.
 */
#include "pynn.h"
#include "internal.h"

#include <math.h>
#include <string.h>

static void fill_floats(float *dst, ptrdiff_t n, float v)
{
    if (v == 0.0f) {
        memset(dst, 0, (size_t)n * sizeof(float));
        return;
    }
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = v;
}

/* ------------------------------------------------------ pad and crop */

/* Output rows [r0, r1) of the shift; a row is (sample, depth, height). */
static void shift_rows(const pynn_shift_shape *s, const float *x, float *y, float fill,
                       ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t c = s->c, orow = s->ow * c, irow = s->w * c;
    /* Output columns [j0, j1) come from input columns [j0 - fw, j1 - fw). */
    const ptrdiff_t j0 = PYNN_MAX(s->fw, 0), j1 = PYNN_MIN(s->ow, s->w + s->fw);
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t oy = r % s->oh, oz = (r / s->oh) % s->od, b = r / (s->oh * s->od);
        ptrdiff_t iy = oy - s->fh, iz = oz - s->fd;
        float *dst = y + r * orow;
        if (iy < 0 || iy >= s->h || iz < 0 || iz >= s->d || j1 <= j0) {
            fill_floats(dst, orow, fill);
            continue;
        }
        const float *src = x + ((b * s->d + iz) * s->h + iy) * irow;
        fill_floats(dst, j0 * c, fill);
        memcpy(dst + j0 * c, src + (j0 - s->fw) * c, (size_t)((j1 - j0) * c) * sizeof(float));
        fill_floats(dst + j1 * c, (s->ow - j1) * c, fill);
    }
}

void pynn_pad_crop(const pynn_shift_shape *s, const float *x, float *y, float fill)
{
    PYNN_FTZ_SCOPE;
    ptrdiff_t rows = s->n * s->od * s->oh;
    if (rows <= 0 || s->ow <= 0 || s->c <= 0)
        return;
    int nt = pynn_threads_for(rows * s->ow * s->c);
    PYNN_PARALLEL_RANGE(nt, rows, shift_rows(s, x, y, fill, lo, hi));
}

/* ------------------------------------------------------------ resize */

/* Where output index o samples a window of `size` input values when it is
 * resized to `out` values, with half-pixel centres.  Nearest: the index,
 * computed in float32 in the order Keras 3's NumPy backend computes it
 * ((o + 0.5) * size / out, floored), so ties round the same way.
 * Bilinear: the lower index i0, the upper i1 and the weight of the upper,
 * clamped at the borders as TensorFlow does. */
static inline ptrdiff_t nearest_index(ptrdiff_t o, ptrdiff_t size, ptrdiff_t out)
{
    float f = ((float)o + 0.5f) * (float)size / (float)out;
    ptrdiff_t i = (ptrdiff_t)floorf(f);
    return PYNN_MIN(PYNN_MAX(i, 0), size - 1);
}

static inline void linear_taps(ptrdiff_t o, ptrdiff_t size, ptrdiff_t out, ptrdiff_t *i0,
                               ptrdiff_t *i1, float *frac)
{
    double f = ((double)o + 0.5) * (double)size / (double)out - 0.5;
    double fl = floor(f);
    ptrdiff_t lo = (ptrdiff_t)fl;
    double t = f - fl;
    if (lo < 0) {
        lo = 0;
        t = 0.0;
    }
    if (lo >= size - 1) {
        lo = size - 1;
        t = 0.0;
    }
    *i0 = lo;
    *i1 = PYNN_MIN(lo + 1, size - 1);
    *frac = (float)t;
}

static void resize_rows(const pynn_resize_shape *s, int mode, const float *x, float *y,
                        ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t c = s->c;
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t oy = r % s->oh, b = r / s->oh;
        const float *xb = x + b * s->h * s->w * c;
        float *dst = y + r * s->ow * c;
        if (mode == PYNN_RESIZE_NEAREST) {
            const float *src = xb + (s->top + nearest_index(oy, s->wh, s->oh)) * s->w * c;
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                const float *p = src + (s->left + nearest_index(ox, s->ww, s->ow)) * c;
                for (ptrdiff_t k = 0; k < c; k++) dst[ox * c + k] = p[k];
            }
            continue;
        }
        ptrdiff_t y0, y1;
        float fy;
        linear_taps(oy, s->wh, s->oh, &y0, &y1, &fy);
        const float *top = xb + (s->top + y0) * s->w * c, *bot = xb + (s->top + y1) * s->w * c;
        for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
            ptrdiff_t x0, x1;
            float fx;
            linear_taps(ox, s->ww, s->ow, &x0, &x1, &fx);
            const float *a = top + (s->left + x0) * c, *bb = top + (s->left + x1) * c;
            const float *cc = bot + (s->left + x0) * c, *d = bot + (s->left + x1) * c;
            float *o = dst + ox * c;
            for (ptrdiff_t k = 0; k < c; k++) {
                float upper = a[k] + (bb[k] - a[k]) * fx;
                float lower = cc[k] + (d[k] - cc[k]) * fx;
                o[k] = upper + (lower - upper) * fy;
            }
        }
    }
}

/* A window of at least one value, inside the image. */
static int window_ok(const pynn_resize_shape *s)
{
    return s->wh >= 1 && s->ww >= 1 && s->top >= 0 && s->left >= 0 &&
           s->top + s->wh <= s->h && s->left + s->ww <= s->w;
}

void pynn_resize_forward(const pynn_resize_shape *s, int mode, const float *x, float *y)
{
    PYNN_FTZ_SCOPE;
    ptrdiff_t rows = s->n * s->oh;
    if (rows <= 0 || s->ow <= 0 || s->c <= 0 || !window_ok(s))
        return;
    int nt = pynn_threads_for(rows * s->ow * s->c * (mode == PYNN_RESIZE_NEAREST ? 1 : 4));
    PYNN_PARALLEL_RANGE(nt, rows, resize_rows(s, mode, x, y, lo, hi));
}

/* The gradient of samples [b0, b1): each output value's gradient added to
 * the input values it was interpolated from. */
static void resize_backward_samples(const pynn_resize_shape *s, int mode, const float *dy,
                                    float *dx, ptrdiff_t b0, ptrdiff_t b1)
{
    const ptrdiff_t c = s->c, in_size = s->h * s->w * c;
    memset(dx + b0 * in_size, 0, (size_t)((b1 - b0) * in_size) * sizeof(float));
    for (ptrdiff_t b = b0; b < b1; b++) {
        float *db = dx + b * in_size;
        for (ptrdiff_t oy = 0; oy < s->oh; oy++) {
            const float *g = dy + (b * s->oh + oy) * s->ow * c;
            if (mode == PYNN_RESIZE_NEAREST) {
                float *row = db + (s->top + nearest_index(oy, s->wh, s->oh)) * s->w * c;
                for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                    float *p = row + (s->left + nearest_index(ox, s->ww, s->ow)) * c;
                    for (ptrdiff_t k = 0; k < c; k++) p[k] += g[ox * c + k];
                }
                continue;
            }
            ptrdiff_t y0, y1;
            float fy;
            linear_taps(oy, s->wh, s->oh, &y0, &y1, &fy);
            float *top = db + (s->top + y0) * s->w * c, *bot = db + (s->top + y1) * s->w * c;
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                ptrdiff_t x0, x1;
                float fx;
                linear_taps(ox, s->ww, s->ow, &x0, &x1, &fx);
                float w00 = (1.0f - fy) * (1.0f - fx), w01 = (1.0f - fy) * fx;
                float w10 = fy * (1.0f - fx), w11 = fy * fx;
                float *a = top + (s->left + x0) * c, *bb = top + (s->left + x1) * c;
                float *cc = bot + (s->left + x0) * c, *d = bot + (s->left + x1) * c;
                const float *gg = g + ox * c;
                /* One tap at a time: at the borders two taps are the same
                 * value, and both weights must reach it. */
                for (ptrdiff_t k = 0; k < c; k++) a[k] += w00 * gg[k];
                for (ptrdiff_t k = 0; k < c; k++) bb[k] += w01 * gg[k];
                for (ptrdiff_t k = 0; k < c; k++) cc[k] += w10 * gg[k];
                for (ptrdiff_t k = 0; k < c; k++) d[k] += w11 * gg[k];
            }
        }
    }
}

void pynn_resize_backward(const pynn_resize_shape *s, int mode, const float *dy, float *dx)
{
    PYNN_FTZ_SCOPE;
    if (s->n <= 0 || s->h * s->w * s->c <= 0 || s->oh <= 0 || s->ow <= 0 || !window_ok(s))
        return;
    int nt = pynn_threads_for(s->n * s->oh * s->ow * s->c * 4);
    PYNN_PARALLEL_RANGE(nt, s->n, resize_backward_samples(s, mode, dy, dx, lo, hi));
}

/* ------------------------------------------------------------ repeat */

static void repeat_rows(const float *x, ptrdiff_t times, ptrdiff_t inner, float *y,
                        ptrdiff_t o0, ptrdiff_t o1)
{
    for (ptrdiff_t o = o0; o < o1; o++)
        for (ptrdiff_t t = 0; t < times; t++)
            memcpy(y + (o * times + t) * inner, x + o * inner, (size_t)inner * sizeof(float));
}

void pynn_repeat(const float *x, ptrdiff_t outer, ptrdiff_t times, ptrdiff_t inner, float *y)
{
    PYNN_FTZ_SCOPE;
    if (outer <= 0 || times <= 0 || inner <= 0)
        return;
    int nt = pynn_threads_for(outer * times * inner);
    PYNN_PARALLEL_RANGE(nt, outer, repeat_rows(x, times, inner, y, lo, hi));
}

static inline __attribute__((always_inline)) void
repeat_sum_body(const float *dy, ptrdiff_t times, ptrdiff_t inner, float *dx, ptrdiff_t o0,
                ptrdiff_t o1)
{
    for (ptrdiff_t o = o0; o < o1; o++) {
        float *d = dx + o * inner;
        const float *g = dy + o * times * inner;
        for (ptrdiff_t k = 0; k < inner; k++) d[k] = g[k];
        for (ptrdiff_t t = 1; t < times; t++)
            for (ptrdiff_t k = 0; k < inner; k++) d[k] += g[t * inner + k];
    }
}

PYNN_PER_LEVEL(static, repeat_sum_range, repeat_sum_body,
               (const float *dy, ptrdiff_t times, ptrdiff_t inner, float *dx, ptrdiff_t o0,
                ptrdiff_t o1),
               (dy, times, inner, dx, o0, o1))

void pynn_repeat_backward(const float *dy, ptrdiff_t outer, ptrdiff_t times, ptrdiff_t inner,
                          float *dx)
{
    PYNN_FTZ_SCOPE;
    if (outer <= 0 || inner <= 0)
        return;
    if (times <= 0) {
        memset(dx, 0, (size_t)(outer * inner) * sizeof(float));
        return;
    }
    int nt = pynn_threads_for(outer * times * inner);
    PYNN_PARALLEL_RANGE(nt, outer, repeat_sum_range(dy, times, inner, dx, lo, hi));
}

/* --------------------------------------------------------- transpose */

/* Output rows [r0, r1) (a row: the last output axis) of the transposition
 * with the given output sizes and, per output axis, the input stride. */
static void transpose_rows(const float *x, int rank, const ptrdiff_t *out_shape,
                           const ptrdiff_t *in_stride, float *y, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t len = out_shape[rank - 1], step = in_stride[rank - 1];
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t rest = r, off = 0;
        for (int a = rank - 2; a >= 0; a--) {
            off += (rest % out_shape[a]) * in_stride[a];
            rest /= out_shape[a];
        }
        const float *src = x + off;
        float *dst = y + r * len;
        if (step == 1)
            memcpy(dst, src, (size_t)len * sizeof(float));
        else
            for (ptrdiff_t k = 0; k < len; k++) dst[k] = src[k * step];
    }
}

void pynn_transpose(const float *x, int rank, const ptrdiff_t *shape, const int *perm,
                    float *y)
{
    PYNN_FTZ_SCOPE;
    if (rank <= 0 || rank > PYNN_MAX_RANK)
        return;
    ptrdiff_t stride[PYNN_MAX_RANK], out_shape[PYNN_MAX_RANK], in_stride[PYNN_MAX_RANK];
    ptrdiff_t total = 1;
    for (int a = rank - 1; a >= 0; a--) {
        stride[a] = total;
        total *= shape[a];
    }
    if (total <= 0)
        return;
    for (int a = 0; a < rank; a++) {
        out_shape[a] = shape[perm[a]];
        in_stride[a] = stride[perm[a]];
    }
    ptrdiff_t rows = total / out_shape[rank - 1];
    int nt = pynn_threads_for(total * 2);
    PYNN_PARALLEL_RANGE(nt, rows, transpose_rows(x, rank, out_shape, in_stride, y, lo, hi));
}
