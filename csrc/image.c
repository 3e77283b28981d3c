/*
 * image.c - the batched affine warp behind image augmentation.
 *
 * Output pixel (r, c) of image b reads the input at
 *     row = m[0] r + m[1] c + m[2],   col = m[3] r + m[4] c + m[5]
 * (m: the image's six doubles) through scipy.ndimage's spline of order 0
 * (nearest) or 1 (bilinear) and its boundary modes, so one call over a
 * batch gives what Keras's apply_affine_transform (scipy's
 * affine_transform, channel by channel) gives image by image.
 *
 * A row is done a stretch at a time in two passes: a vectorized one
 * computes each pixel's coordinates, tap offsets (clamped to the image)
 * and weights; the second blends the taps (4 channels at once with SSE).
 * Clamped taps are scipy's 'nearest' mode, and every mode's reading of a
 * point inside the image; the pixels of the other modes outside it take
 * cval, or scipy's own boundary logic (map_coordinate and axis_taps below
 * follow ni_interpolation.c), one by one.
 */
#include "pynn.h"
#include "internal.h"

#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Coordinates are clamped to +-COORD_LIMIT before they are converted to
 * integers: far outside any image, and safe for int32 and the wrap-around
 * arithmetic.  NaN becomes -COORD_LIMIT. */
#define COORD_LIMIT 1e9

/* scipy's boundary modes, and MIRROR, which scipy uses for the taps of the
 * constant and wrap modes. */
enum { MODE_CONSTANT = PYNN_FILL_CONSTANT, MODE_NEAREST = PYNN_FILL_NEAREST,
       MODE_REFLECT = PYNN_FILL_REFLECT, MODE_WRAP = PYNN_FILL_WRAP,
       MODE_GRID_CONSTANT = PYNN_FILL_GRID_CONSTANT, MODE_GRID_WRAP = PYNN_FILL_GRID_WRAP,
       MODE_MIRROR = 16 };

/* A coordinate outside [0, len - 1] mapped back as scipy's map_coordinate
 * does (ptrdiff_t stands for npy_intp).  CONSTANT gives -1 outside. */
static double map_coordinate(double in, ptrdiff_t len, int mode)
{
    if (in < 0) {
        switch (mode) {
        case MODE_MIRROR:
            if (len <= 1) {
                in = 0;
            } else {
                ptrdiff_t sz2 = 2 * len - 2;
                in = sz2 * (ptrdiff_t)(-in / sz2) + in;
                in = in <= 1 - len ? in + sz2 : -in;
            }
            break;
        case MODE_REFLECT:
            if (len <= 1) {
                in = 0;
            } else {
                ptrdiff_t sz2 = 2 * len;
                if (in < -sz2)
                    in = sz2 * (ptrdiff_t)(-in / sz2) + in;
                in = in < -len ? in + sz2 : (in > -1e-15 ? 1e-15 : -in) - 1;
            }
            break;
        case MODE_WRAP:
            if (len <= 1) {
                in = 0;
            } else {
                ptrdiff_t sz = len - 1;
                in += sz * ((ptrdiff_t)(-in / sz) + 1);
            }
            break;
        case MODE_NEAREST:
            in = 0;
            break;
        default: /* MODE_CONSTANT */
            in = -1;
            break;
        }
    } else if (in > len - 1) {
        switch (mode) {
        case MODE_MIRROR:
            if (len <= 1) {
                in = 0;
            } else {
                ptrdiff_t sz2 = 2 * len - 2;
                in -= sz2 * (ptrdiff_t)(in / sz2);
                if (in >= len)
                    in = sz2 - in;
            }
            break;
        case MODE_REFLECT:
            if (len <= 1) {
                in = 0;
            } else {
                ptrdiff_t sz2 = 2 * len;
                in -= sz2 * (ptrdiff_t)(in / sz2);
                if (in >= len)
                    in = sz2 - in - 1;
            }
            break;
        case MODE_WRAP:
            if (len <= 1) {
                in = 0;
            } else {
                ptrdiff_t sz = len - 1;
                in -= sz * (ptrdiff_t)(in / sz);
            }
            break;
        case MODE_NEAREST:
            in = (double)(len - 1);
            break;
        default:
            in = -1;
            break;
        }
    }
    return in;
}

/* The input taps along one axis of scipy's spline of order `order` (0 or 1)
 * at coordinate cc, and the weight of the second tap.  Returns 0 when the
 * pixel takes cval instead (constant mode, cc outside [0, len - 1]). */
static int axis_taps(double cc, ptrdiff_t len, int order, int mode, ptrdiff_t tap[2],
                     double *frac)
{
    if (mode != MODE_NEAREST) {
        cc = map_coordinate(cc, len, mode);
        if (mode == MODE_CONSTANT && !(cc > -1.0))
            return 0;
    }
    ptrdiff_t start = (ptrdiff_t)(order ? floor(cc) : floor(cc + 0.5));
    *frac = cc - floor(cc);
    /* scipy interpolates the taps of the constant and wrap modes as mirror */
    int tap_mode = mode == MODE_CONSTANT || mode == MODE_WRAP ? MODE_MIRROR : mode;
    int edge = start < 0 || start + order >= len;
    for (int l = 0; l <= order; l++)
        tap[l] = edge ? (ptrdiff_t)map_coordinate((double)(start + l), len, tap_mode)
                      : start + l;
    return 1;
}

/* The taps along one axis at coordinate cc (within +-COORD_LIMIT) for the
 * grid modes: the image extended by cval (tap -1 for a tap outside it), or
 * repeated with period len; and the weight of the second tap. */
static void grid_taps(double cc, ptrdiff_t len, int order, int mode, ptrdiff_t tap[2],
                      double *frac)
{
    double start = order ? floor(cc) : floor(cc + 0.5);
    *frac = cc - floor(cc);
    for (int l = 0; l <= order; l++) {
        double t = start + l;
        if (mode == MODE_GRID_WRAP) {
            t = fmod(t, (double)len);
            tap[l] = (ptrdiff_t)(t < 0 ? t + (double)len : t);
        } else {
            tap[l] = t >= 0 && t <= (double)(len - 1) ? (ptrdiff_t)t : -1;
        }
    }
}

typedef struct {
    const float *x;
    float *y;
    const double *m;
    const int64_t *index;
    ptrdiff_t h, w, c, oh, ow;
    int order, mode;
    float cval;
    /* y * scale + offset applied as pixels are written (NULL: not here),
     * each repeated over REP_PIXELS pixels */
    const float *rep_scale, *rep_offset;
} warp_job;

/* The per-channel scale and offset are kept repeated over this many pixels,
 * so that a loop over a row's floats finds the channel's values at the same
 * index and vectorizes; for up to REP_MAX floats (64 channels). */
#define REP_PIXELS 16
#define REP_MAX 1024

/* y[i] = x[i] * scale + offset of the channel, over n floats starting at a
 * pixel's first channel; x may be y.  rep = REP_PIXELS * channels. */
static void affine_floats(const float *x, float *y, ptrdiff_t n, const float *rep_scale,
                          const float *rep_offset, ptrdiff_t rep)
{
    ptrdiff_t i = 0;
    for (; i + rep <= n; i += rep)
        for (ptrdiff_t k = 0; k < rep; k++) y[i + k] = x[i + k] * rep_scale[k] + rep_offset[k];
    for (ptrdiff_t k = 0; i + k < n; k++) y[i + k] = x[i + k] * rep_scale[k] + rep_offset[k];
}

/* One pixel of the grid modes, as scipy's map_coordinates computes it. */
static void grid_pixel(const warp_job *j, const float *img, double r, double c, float *out)
{
    ptrdiff_t tr[2] = {0, 0}, tc[2] = {0, 0};
    double fr, fc;
    grid_taps(r, j->h, j->order, j->mode, tr, &fr);
    grid_taps(c, j->w, j->order, j->mode, tc, &fc);
    ptrdiff_t w = j->w, ch = j->c;
    if (j->order == 0) {
        for (ptrdiff_t k = 0; k < ch; k++)
            out[k] = tr[0] < 0 || tc[0] < 0 ? j->cval : img[(tr[0] * w + tc[0]) * ch + k];
        return;
    }
    double wr[2], wc[2];
    wr[0] = 1.0 - fr;
    wr[1] = 1.0 - wr[0];
    wc[0] = 1.0 - fc;
    wc[1] = 1.0 - wc[0];
    for (ptrdiff_t k = 0; k < ch; k++) {
        double t = 0.0;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                t += (tr[a] < 0 || tc[b] < 0 ? (double)j->cval
                                             : img[(tr[a] * w + tc[b]) * ch + k]) * wr[a] * wc[b];
        out[k] = (float)t;
    }
}

/* One pixel, exactly as scipy computes it (the reflect and wrap modes
 * outside the image, and the taps next to the image's last pixel). */
static void edge_pixel(const warp_job *j, const float *img, double r, double c, float *out)
{
    ptrdiff_t tr[2] = {0, 0}, tc[2] = {0, 0};
    double fr, fc;
    if (j->mode == MODE_GRID_CONSTANT || j->mode == MODE_GRID_WRAP) {
        grid_pixel(j, img, r, c, out);
        return;
    }
    if (!axis_taps(r, j->h, j->order, j->mode, tr, &fr) ||
        !axis_taps(c, j->w, j->order, j->mode, tc, &fc)) {
        for (ptrdiff_t k = 0; k < j->c; k++) out[k] = j->cval;
        return;
    }
    ptrdiff_t w = j->w, ch = j->c;
    if (j->order == 0) {
        memcpy(out, img + (tr[0] * w + tc[0]) * ch, (size_t)ch * sizeof(float));
        return;
    }
    double wr[2], wc[2];
    wr[0] = 1.0 - fr;
    wr[1] = 1.0 - wr[0];
    wc[0] = 1.0 - fc;
    wc[1] = 1.0 - wc[0];
    for (ptrdiff_t k = 0; k < ch; k++) {
        double t = 0.0;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                t += img[(tr[a] * w + tc[b]) * ch + k] * wr[a] * wc[b];
        out[k] = (float)t;
    }
}

/* Output pixels are taken CHUNK at a time: coordinates first (a loop that
 * vectorizes), then the reads. */
#define CHUNK 64

/* floor(v) for |v| < 2^31, written so that it vectorizes without SSE4.1's
 * rounding instructions. */
static inline int32_t floor_i32(double v)
{
    int32_t t = (int32_t)v;
    return t - ((double)t > v);
}

static inline double clamp_coord(double v)
{
    v = v > -COORD_LIMIT ? v : -COORD_LIMIT; /* NaN goes to the lower limit */
    return v < COORD_LIMIT ? v : COORD_LIMIT;
}

/* What the first pass finds for a pixel that reads no taps directly. */
enum { PIXEL_CVAL = -1, PIXEL_EXACT = -2 };

/* For output pixels [j0, j0 + len) of a row: off[k], the offset of the
 * first tap, or PIXEL_CVAL (constant mode, outside the image), or
 * PIXEL_EXACT (a pixel edge_pixel computes); for bilinear, drow[k] and
 * dcol[k], the steps from the first tap to the next row's and column's (0
 * where the tap is clamped at an edge), and the weights of the four taps.
 *
 * Taps are clamped to the image.  That is scipy's 'nearest' mode, and for
 * any mode a pixel whose coordinates lie in [0, len - 1] reads the same
 * (a tap past the edge then has weight 0); the other pixels of the
 * constant mode take cval, those of reflect and wrap go to edge_pixel.
 * So do pixels whose 4-float reads (blend4) would pass max_off.  With
 * `clamp`, coordinates are first brought within +-COORD_LIMIT so that they
 * convert to integers; without it the caller knows they are. */
static inline __attribute__((always_inline)) void
chunk_coords(double rbase, double cbase, double dr, double dc, int j0, int len, int32_t h,
             int32_t w, int32_t ch, int mode, int32_t max_off, const int order,
             const int clamp, float (*restrict wt)[CHUNK], int32_t *restrict off,
             int32_t *restrict drow, int32_t *restrict dcol)
{
    const double rmax = (double)(h - 1), cmax = (double)(w - 1);
    const int32_t any_place = mode == MODE_NEAREST;
    const int32_t outside = mode == MODE_CONSTANT ? PIXEL_CVAL : PIXEL_EXACT;
    for (int k = 0; k < len; k++) {
        double jj = (double)(j0 + k);
        double r = rbase + dr * jj, c = cbase + dc * jj;
        if (clamp) {
            r = clamp_coord(r);
            c = clamp_coord(c);
        }
        int32_t ir, ic, at, last;
        /* r >= 0 as floor(r) >= 0: the comparison of an integer vectorizes */
        int32_t inside = (floor_i32(r) >= 0) & (floor_i32(c) >= 0) & (r <= rmax) & (c <= cmax);
        if (order) {
            ir = floor_i32(r);
            ic = floor_i32(c);
            float fr = (float)(r - (double)ir), fc = (float)(c - (double)ic);
            wt[0][k] = (1.0f - fr) * (1.0f - fc);
            wt[1][k] = (1.0f - fr) * fc;
            wt[2][k] = fr * (1.0f - fc);
            wt[3][k] = fr * fc;
            int32_t r0 = PYNN_MIN(PYNN_MAX(ir, 0), h - 1);
            int32_t r1 = PYNN_MIN(PYNN_MAX(ir + 1, 0), h - 1);
            int32_t c0 = PYNN_MIN(PYNN_MAX(ic, 0), w - 1);
            int32_t c1 = PYNN_MIN(PYNN_MAX(ic + 1, 0), w - 1);
            at = (r0 * w + c0) * ch;
            drow[k] = (r1 - r0) * w * ch;
            dcol[k] = (c1 - c0) * ch;
            last = at + drow[k] + dcol[k];
        } else {
            /* scipy's nearest tap: floor(x + 0.5) */
            ir = PYNN_MIN(PYNN_MAX(floor_i32(r + 0.5), 0), h - 1);
            ic = PYNN_MIN(PYNN_MAX(floor_i32(c + 0.5), 0), w - 1);
            at = last = (ir * w + ic) * ch;
        }
        int32_t v = (inside | any_place) ? at : outside;
        off[k] = last <= max_off ? v : PIXEL_EXACT;
    }
}

#if defined(__SSE2__)
/* The bilinear blend of 4 channels at once: each tap read as 4 floats (for
 * 3 channels the fourth is the next pixel's first, unused; max_off keeps
 * it inside the image). */
static inline __attribute__((always_inline)) __m128
blend4(const float *p00, const float *p01, const float *p10, const float *p11,
       const float (*wt)[CHUNK], int k)
{
    __m128 v = _mm_mul_ps(_mm_set1_ps(wt[0][k]), _mm_loadu_ps(p00));
    v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(wt[1][k]), _mm_loadu_ps(p01)));
    v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(wt[2][k]), _mm_loadu_ps(p10)));
    return _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(wt[3][k]), _mm_loadu_ps(p11)));
}
#endif

/* Output pixels [j0, j0 + len) of output row i, whose first pixel reads
 * the input at (rbase, cbase). */
static inline __attribute__((always_inline)) void
warp_chunk(const warp_job *jb, const float *restrict img, float *restrict yrow, double rbase,
           double cbase, int j0, int len, int in_range, const int order, const int ch)
{
    const double *m = jb->m;
    const ptrdiff_t h = jb->h, w = jb->w;
    float wt[4][CHUNK]; /* bilinear weights of the four taps */
    int32_t off[CHUNK], drow[CHUNK], dcol[CHUNK];
    /* the last tap a pixel read directly may have */
    int32_t max_off = (int32_t)(h * w * ch - ch);
#if defined(__SSE2__)
    if (order && ch == 3)
        max_off = (int32_t)(h * w * ch - 4);
#endif
    if (in_range)
        chunk_coords(rbase, cbase, m[1], m[4], j0, len, (int32_t)h, (int32_t)w, (int32_t)ch,
                     jb->mode, max_off, order, 0, wt, off, drow, dcol);
    else
        chunk_coords(rbase, cbase, m[1], m[4], j0, len, (int32_t)h, (int32_t)w, (int32_t)ch,
                     jb->mode, max_off, order, 1, wt, off, drow, dcol);
    /* the per-channel scale and offset, or 1 and 0 */
    const float *rs = jb->rep_scale, *ro = jb->rep_offset;
    const int affine = rs != NULL;
#if defined(__SSE2__)
    const __m128 s4 = affine ? _mm_loadu_ps(rs) : _mm_set1_ps(1.0f);
    const __m128 o4 = affine ? _mm_loadu_ps(ro) : _mm_setzero_ps();
#endif
    for (int k = 0; k < len; k++) {
        float *o = yrow + (ptrdiff_t)(j0 + k) * ch;
        if (off[k] < 0) {
            if (off[k] == PIXEL_CVAL) {
                for (int q = 0; q < ch; q++) o[q] = jb->cval;
            } else {
                double jj = (double)(j0 + k);
                edge_pixel(jb, img, clamp_coord(rbase + m[1] * jj),
                           clamp_coord(cbase + m[4] * jj), o);
            }
            if (affine)
                for (int q = 0; q < ch; q++) o[q] = o[q] * rs[q] + ro[q];
            continue;
        }
        const float *p00 = img + off[k];
        if (order == 0) {
            for (int q = 0; q < ch; q++) o[q] = affine ? p00[q] * rs[q] + ro[q] : p00[q];
            continue;
        }
        const float *p01 = p00 + dcol[k], *p10 = p00 + drow[k], *p11 = p10 + dcol[k];
#if defined(__SSE2__)
        if (ch == 4 || ch == 3) {
            __m128 v = blend4(p00, p01, p10, p11, wt, k);
            if (affine)
                v = _mm_add_ps(_mm_mul_ps(v, s4), o4);
            if (ch == 4) {
                _mm_storeu_ps(o, v);
            } else {
                _mm_storel_pi((__m64 *)o, v);
                _mm_store_ss(o + 2, _mm_movehl_ps(v, v));
            }
            continue;
        }
#endif
        for (int q = 0; q < ch; q++) {
            float v = wt[0][k] * p00[q] + wt[1][k] * p01[q] + wt[2][k] * p10[q] +
                      wt[3][k] * p11[q];
            o[q] = affine ? v * rs[q] + ro[q] : v;
        }
    }
}

static inline __attribute__((always_inline)) void
warp_rows_channels(const warp_job *jb, ptrdiff_t lo, ptrdiff_t hi, const int order,
                   const int ch)
{
    const ptrdiff_t in_size = jb->h * jb->w * ch, out_row = jb->ow * ch;
    for (ptrdiff_t t = lo; t < hi; t++) {
        ptrdiff_t b = t / jb->oh, i = t % jb->oh;
        const double *m = jb->m + 6 * b;
        const float *img = jb->x + (jb->index ? jb->index[b] : b) * in_size;
        float *yrow = jb->y + t * out_row;
        if (m[0] == 1.0 && m[1] == 0.0 && m[2] == 0.0 && m[3] == 0.0 && m[4] == 1.0 &&
            m[5] == 0.0 && jb->oh == jb->h && jb->ow == jb->w) {
            /* the identity: every pixel read where it is */
            if (jb->rep_scale)
                affine_floats(img + i * out_row, yrow, out_row, jb->rep_scale,
                              jb->rep_offset, REP_PIXELS * ch);
            else
                memcpy(yrow, img + i * out_row, (size_t)out_row * sizeof(float));
            continue;
        }
        /* scipy's order of operations: shift + row * m0, then + col * m1 */
        double rbase = m[2] + (double)i * m[0], cbase = m[5] + (double)i * m[3];
        warp_job job = *jb;
        job.m = m;
        /* The coordinates are linear along the row: within the limit at
         * both ends, within it everywhere (false for NaN). */
        double last = (double)(jb->ow - 1);
        int in_range = fabs(rbase) < COORD_LIMIT && fabs(cbase) < COORD_LIMIT &&
                       fabs(rbase + m[1] * last) < COORD_LIMIT &&
                       fabs(cbase + m[4] * last) < COORD_LIMIT;
        for (int j0 = 0; j0 < (int)jb->ow; j0 += CHUNK) {
            int len = (int)PYNN_MIN((ptrdiff_t)CHUNK, jb->ow - j0);
            warp_chunk(&job, img, yrow, rbase, cbase, j0, len, in_range, order, ch);
        }
    }
}

static inline __attribute__((always_inline)) void
warp_rows_order(const warp_job *jb, ptrdiff_t lo, ptrdiff_t hi, const int order)
{
    switch (jb->c) {
    case 1: warp_rows_channels(jb, lo, hi, order, 1); break;
    case 3: warp_rows_channels(jb, lo, hi, order, 3); break;
    case 4: warp_rows_channels(jb, lo, hi, order, 4); break;
    default: warp_rows_channels(jb, lo, hi, order, (int)jb->c); break;
    }
}

/* Rows [lo, hi) of the n * oh output rows; nearest and bilinear, and the
 * channel counts of gray, RGB and RGBA images, get loops of their own. */
static inline __attribute__((always_inline)) void
warp_rows_body(const warp_job *jb, ptrdiff_t lo, ptrdiff_t hi)
{
    if (jb->order)
        warp_rows_order(jb, lo, hi, 1);
    else
        warp_rows_order(jb, lo, hi, 0);
}

PYNN_PER_LEVEL(static, warp_rows, warp_rows_body,
               (const warp_job *jb, ptrdiff_t lo, ptrdiff_t hi), (jb, lo, hi))

static void min_max(const float *x, ptrdiff_t n, float *lo, float *hi)
{
    float a = x[0], b = x[0];
    for (ptrdiff_t i = 1; i < n; i++) {
        a = x[i] < a ? x[i] : a;
        b = x[i] > b ? x[i] : b;
    }
    *lo = a;
    *hi = b;
}

static inline float clampf(float v, float lo, float hi)
{
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}

/* The per-image steps after the warp (see pynn_affine_warp); scale and
 * offset per channel, repeated over REP_PIXELS pixels in rep_scale and
 * rep_offset when the channels are few enough. */
static void finish_image(float *y, ptrdiff_t pixels, ptrdiff_t ch, const float *shift,
                         const float *brightness, const float *scale, const float *offset,
                         const float *rep_scale, const float *rep_offset)
{
    ptrdiff_t n = pixels * ch;
    float lo, hi;
    if (n == 0)
        return;
    if (shift) {
        float s = *shift;
        min_max(y, n, &lo, &hi);
        for (ptrdiff_t i = 0; i < n; i++) y[i] = clampf(y[i] + s, lo, hi);
    }
    if (brightness) {
        float f = *brightness;
        min_max(y, n, &lo, &hi);
        /* An image outside [0, 255] is scaled within its own range: Keras
         * maps it onto [0, 255] and back.  (base 0 and range 255 give the
         * plain clip(y * f, 0, 255) exactly.) */
        int own = lo < 0.0f || hi > 255.0f;
        float base = own ? lo : 0.0f, range = own ? hi - lo : 255.0f;
        if (ch != 4) {
            for (ptrdiff_t i = 0; i < n; i++) y[i] = base + clampf((y[i] - base) * f, 0.0f, range);
        } else {
            /* RGBA keeps its alpha, as PIL's ImageEnhance.Brightness does */
            for (ptrdiff_t p = 0; p < pixels; p++)
                for (ptrdiff_t k = 0; k < 3; k++) {
                    float *v = y + p * 4 + k;
                    *v = base + clampf((*v - base) * f, 0.0f, range);
                }
        }
    }
    if (scale) {
        if (rep_scale)
            affine_floats(y, y, n, rep_scale, rep_offset, REP_PIXELS * ch);
        else
            for (ptrdiff_t p = 0; p < pixels; p++)
                for (ptrdiff_t k = 0; k < ch; k++)
                    y[p * ch + k] = y[p * ch + k] * scale[k] + offset[k];
    }
}

void pynn_affine_warp(const pynn_warp_shape *s, const float *x, const int64_t *index,
                      const double *matrices, int interpolation, int fill_mode, float cval,
                      const float *channel_shift, const float *brightness,
                      const float *scale, const float *offset, float *y)
{
    PYNN_FTZ_SCOPE;
    if (s->n <= 0 || s->oh <= 0 || s->ow <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0)
        return;
    if (!(scale && offset))
        scale = offset = NULL;
    /* scale and offset repeated for vectorized loops, where they fit */
    float rep_scale[REP_MAX], rep_offset[REP_MAX];
    const int rep = scale && s->c * REP_PIXELS <= REP_MAX;
    for (ptrdiff_t k = 0; rep && k < s->c * REP_PIXELS; k++) {
        rep_scale[k] = scale[k % s->c];
        rep_offset[k] = offset[k % s->c];
    }
    /* Without a channel shift or brightness, which need the whole warped
     * image first, the scale and offset are applied as pixels are written. */
    const int fold = rep && !channel_shift && !brightness;
    warp_job jb = {x, y, matrices, index, s->h, s->w, s->c, s->oh, s->ow,
                   interpolation == PYNN_INTERP_NEAREST ? 0 : 1, fill_mode, cval,
                   fold ? rep_scale : NULL, fold ? rep_offset : NULL};
    const ptrdiff_t rows = s->n * s->oh, pixels = s->oh * s->ow;
    const int finish = channel_shift || brightness || (scale && !fold);
    const float *rs = rep ? rep_scale : NULL, *ro = rep ? rep_offset : NULL;
    /* about 30 operations per output value */
    int nt = pynn_threads_for(rows * s->ow * s->c * 30);
    if (nt <= 1) {
        warp_rows(&jb, 0, rows);
        if (finish)
            for (ptrdiff_t b = 0; b < s->n; b++)
                finish_image(y + b * pixels * s->c, pixels, s->c,
                             channel_shift ? channel_shift + b : NULL,
                             brightness ? brightness + b : NULL, scale, offset, rs, ro);
        return;
    }
    /* Rows in small blocks, dealt as pynn_pieces says: when a core is
     * busy with other work the others take its share, and each thread
     * finishes the images it warped.  Each row is computed alone, so the
     * result does not depend on who takes it. */
    const ptrdiff_t block = PYNN_MAX((ptrdiff_t)1, 4096 / PYNN_MAX(s->ow * s->c, (ptrdiff_t)1));
    const ptrdiff_t blocks = (rows + block - 1) / block;
    pynn_pieces dealt;
    pynn_pieces_init(&dealt, nt);
#pragma omp parallel num_threads(nt)
    {
        PYNN_FTZ_SCOPE;
        int t = pynn_thread_id(), turn = 0;
        for (ptrdiff_t k; (k = pynn_pieces_take(&dealt, 0, blocks, t, &turn)) >= 0;)
            warp_rows(&jb, k * block, PYNN_MIN(rows, (k + 1) * block));
        if (finish) {
#pragma omp barrier
            turn = 0;
            for (ptrdiff_t b; (b = pynn_pieces_take(&dealt, blocks, s->n, t, &turn)) >= 0;)
                finish_image(y + b * pixels * s->c, pixels, s->c,
                             channel_shift ? channel_shift + b : NULL,
                             brightness ? brightness + b : NULL, scale, offset, rs, ro);
        }
    }
}
