/*
 * conv.c - 2-D convolution (1-D is height 1) and depthwise convolution,
 * NHWC data and HWIO kernels.
 *
 * The dense convolution's forward pass is direct (register tiles fed
 * straight from the input, see "direct forward") for patches of up to 512
 * values; otherwise it is im2col + the packed GEMM: a group of samples is
 * unrolled into a rows x (kh*kw*cin) matrix in a per-thread buffer sized to
 * stay in L2, multiplied by the kernel seen as a (kh*kw*cin) x cout matrix,
 * and bias + activation are applied to the group's output while it is still
 * in cache.  A 1x1 kernel with stride 1 and no padding needs no unrolling:
 * its input already is that matrix.  Threads split the output pixels, each
 * computing its own share either way.
 *
 * The backward pass unrolls each group once: the weight gradient is that
 * matrix transposed times dy, summed per thread and then across threads in
 * a fixed order; the input gradient is dy times the kernel transposed, folded
 * back onto the input (col2im).
 *
 * The depthwise convolution has too little arithmetic per value for the GEMM
 * to pay; it is a direct loop with the channels innermost, contiguous in
 * both the input and the kernel.
 */
#include "pynn.h"
#include "internal.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static ptrdiff_t patch_size(const pynn_conv_shape *s) { return s->kh * s->kw * s->cin; }

/* Whether the kernels can run this geometry: strides and dilations >= 1,
 * kernels of at least 1x1, no negative size or padding, and every size the
 * loops form (arrays, unrolled rows, input coordinates) within ptrdiff_t. */
static int conv_shape_valid(const pynn_conv_shape *s, int depthwise)
{
    if (s->n < 0 || s->h < 0 || s->w < 0 || s->cin < 0 || s->cout < 0 || s->oh < 0 ||
        s->ow < 0 || s->kh < 1 || s->kw < 1 || s->sh < 1 || s->sw < 1 || s->dh < 1 ||
        s->dw < 1 || s->pad_top < 0 || s->pad_left < 0)
        return 0;
    ptrdiff_t channels = s->cout, t;
    if (depthwise && pynn_mul_size(s->cin, s->cout, &channels))
        return 0;
    const ptrdiff_t in[] = {s->n, s->h, s->w, s->cin};
    const ptrdiff_t out[] = {s->n, s->oh, s->ow, channels};
    const ptrdiff_t kernel[] = {s->kh, s->kw, s->cin, s->cout};
    /* the unrolled input of the whole batch (the backward pass's largest
     * buffer) and one unrolled row times the output channels */
    const ptrdiff_t cols[] = {s->n, s->oh, s->ow, s->kh, s->kw, s->cin};
    if (pynn_size_product(in, 4, &t) || pynn_size_product(out, 4, &t) ||
        pynn_size_product(kernel, 4, &t) || pynn_size_product(cols, 6, &t))
        return 0;
    /* the furthest input coordinate a window reaches, before clipping */
    ptrdiff_t ry, rx, ky, kx;
    if (pynn_mul_size(s->oh, s->sh, &ry) || pynn_mul_size(s->kh, s->dh, &ky) ||
        pynn_mul_size(s->ow, s->sw, &rx) || pynn_mul_size(s->kw, s->dw, &kx) ||
        __builtin_add_overflow(ry, ky, &t) || __builtin_add_overflow(rx, kx, &t) ||
        __builtin_add_overflow(s->h, s->pad_top, &t) ||
        __builtin_add_overflow(s->w, s->pad_left, &t))
        return 0;
    return 1;
}

static int is_pointwise(const pynn_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pad_top == 0 &&
           s->pad_left == 0 && s->oh == s->h && s->ow == s->w;
}

/* Samples per group: enough rows to keep the GEMM efficient, few enough
 * that the unrolled group (rows x patch floats) stays near 1 MiB. */
static ptrdiff_t group_samples(const pynn_conv_shape *s)
{
    ptrdiff_t pixels = PYNN_MAX(s->oh * s->ow, 1), patch = PYNN_MAX(patch_size(s), 1);
    ptrdiff_t by_rows = (512 + pixels - 1) / pixels;
    ptrdiff_t by_size = (262144 / patch) / pixels;
    return PYNN_MAX(1, PYNN_MIN(by_rows, by_size));
}

/* dst[0:n] = src[0:n].  The unrolled rows are short (3 floats for a 3x3
 * kernel on one channel): a loop beats a memcpy call there. */
static inline void copy_floats(float *restrict dst, const float *restrict src, ptrdiff_t n)
{
    if (n > 16) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = src[i];
}

static inline void zero_floats(float *dst, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = 0.0f;
}

/* Rows p0..p1-1 of the unrolled input, a row per output pixel p (sample,
 * oy, ox in order), columns (ky, kx, ci).  cols has COLS_SLACK floats to
 * spare after the last row. */
#define COLS_SLACK 16
static inline __attribute__((always_inline)) void
im2col_body(const pynn_conv_shape *s, const float *x, ptrdiff_t p0, ptrdiff_t p1, float *cols)
{
    /* The geometry in locals: the copies below may alias anything, and the
     * compiler would otherwise reload every field after each of them. */
    const ptrdiff_t cin = s->cin, h = s->h, w = s->w, kh = s->kh, kw = s->kw;
    const ptrdiff_t sh = s->sh, sw = s->sw, dh = s->dh, dw = s->dw;
    const ptrdiff_t pad_top = s->pad_top, pad_left = s->pad_left, oh = s->oh, ow = s->ow;
    const ptrdiff_t patch = kh * kw * cin, span = kw * cin, image = h * w * cin;
    /* A short kernel row (3 floats for 3x3 on one channel) is moved as one
     * block of 4, 8 or 16 floats: the extra floats land where the next row
     * or pixel is written next, or in the slack; the read stays inside x. */
    const float *x_end = x + s->n * image;
    const ptrdiff_t block = span <= 4 ? 4 : span <= 8 ? 8 : 16;
    if (p1 <= p0) /* no pixels (and perhaps oh * ow == 0) */
        return;
    ptrdiff_t n = p0 / (oh * ow), oy = p0 % (oh * ow) / ow, ox = p0 % ow;
    for (ptrdiff_t p = p0; p < p1; p++) {
        const float *xn = x + n * image;
        float *row = cols + (p - p0) * patch;
        ptrdiff_t iy0 = oy * sh - pad_top, ix0 = ox * sw - pad_left;
        for (ptrdiff_t ky = 0; ky < kh; ky++) {
            ptrdiff_t iy = iy0 + ky * dh;
            float *dst = row + ky * span;
            if (iy < 0 || iy >= h) {
                zero_floats(dst, span);
                continue;
            }
            const float *src = xn + iy * w * cin;
            if (dw == 1 && ix0 >= 0 && ix0 + kw <= w) {
                const float *from = src + ix0 * cin;
                if (span <= COLS_SLACK && from + block <= x_end) {
                    if (block == 4)
                        memcpy(dst, from, 4 * sizeof(float));
                    else if (block == 8)
                        memcpy(dst, from, 8 * sizeof(float));
                    else
                        memcpy(dst, from, 16 * sizeof(float));
                } else {
                    copy_floats(dst, from, span);
                }
                continue;
            }
            for (ptrdiff_t kx = 0; kx < kw; kx++) {
                ptrdiff_t ix = ix0 + kx * dw;
                if (ix < 0 || ix >= w)
                    zero_floats(dst + kx * cin, cin);
                else
                    copy_floats(dst + kx * cin, src + ix * cin, cin);
            }
        }
        if (++ox == ow) { /* the next pixel */
            ox = 0;
            if (++oy == oh)
                oy = 0, n++;
        }
    }
}

/* im2col compiled per instruction set (wider moves) and picked at run time. */
PYNN_PER_LEVEL(static, im2col_pixels, im2col_body,
               (const pynn_conv_shape *s, const float *x, ptrdiff_t p0, ptrdiff_t p1,
                float *cols),
               (s, x, p0, p1, cols))

/* Rows of samples [s0, s1). */
static void im2col(const pynn_conv_shape *s, const float *x, ptrdiff_t s0, ptrdiff_t s1,
                   float *cols)
{
    im2col_pixels(s, x, s0 * s->oh * s->ow, s1 * s->oh * s->ow, cols);
}

/* The reverse of im2col for samples [s0, s1): adds each unrolled value back
 * onto the input pixel it came from.  dx of those samples is zeroed first. */
static inline __attribute__((always_inline)) void
col2im_body(const pynn_conv_shape *s, const float *cols, ptrdiff_t s0, ptrdiff_t s1, float *dx)
{
    const ptrdiff_t cin = s->cin, kw = s->kw, patch = patch_size(s);
    memset(dx + s0 * s->h * s->w * cin, 0, (s1 - s0) * s->h * s->w * cin * sizeof(float));
    for (ptrdiff_t n = s0; n < s1; n++) {
        float *dn = dx + n * s->h * s->w * cin;
        for (ptrdiff_t oy = 0; oy < s->oh; oy++) {
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                const float *row = cols + (((n - s0) * s->oh + oy) * s->ow + ox) * patch;
                ptrdiff_t iy0 = oy * s->sh - s->pad_top, ix0 = ox * s->sw - s->pad_left;
                for (ptrdiff_t ky = 0; ky < s->kh; ky++) {
                    ptrdiff_t iy = iy0 + ky * s->dh;
                    if (iy < 0 || iy >= s->h)
                        continue;
                    const float *src = row + ky * kw * cin;
                    float *dst = dn + iy * s->w * cin;
                    for (ptrdiff_t kx = 0; kx < kw; kx++) {
                        ptrdiff_t ix = ix0 + kx * s->dw;
                        if (ix < 0 || ix >= s->w)
                            continue;
                        float *restrict d = dst + ix * cin;
                        const float *restrict v = src + kx * cin;
                        for (ptrdiff_t c = 0; c < cin; c++) d[c] += v[c];
                    }
                }
            }
        }
    }
}

/* col2im compiled per instruction set (its inner loop is a vector add over
 * the channels) and picked at run time. */
PYNN_PER_LEVEL(static, col2im, col2im_body,
               (const pynn_conv_shape *s, const float *cols, ptrdiff_t s0, ptrdiff_t s1,
                float *dx),
               (s, cols, s0, s1, dx))

typedef void (*gemm_fn)(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *,
                        ptrdiff_t, const float *, ptrdiff_t, float, float *, ptrdiff_t);

/* ------------------------------------------- where the windows are read from */

/* The direct forward pass and the AVX2 small-patch weight gradient read
 * each window straight from the input.  Where the windows reach past it
 * (padding), each sample is first copied into a zero-bordered buffer. */
typedef struct {
    ptrdiff_t rows, cols;
    int padded;
} direct_source;

static direct_source direct_source_of(const pynn_conv_shape *s)
{
    direct_source d;
    /* one past the furthest row and column a window reaches */
    d.rows = s->oh > 0 ? (s->oh - 1) * s->sh + (s->kh - 1) * s->dh + 1 : 0;
    d.cols = s->ow > 0 ? (s->ow - 1) * s->sw + (s->kw - 1) * s->dw + 1 : 0;
    d.padded = s->pad_top > 0 || s->pad_left > 0 || d.rows > s->h || d.cols > s->w;
    if (!d.padded) {
        d.rows = s->h;
        d.cols = s->w;
    }
    return d;
}

/* Whether the padded copy's size is within range. */
static int direct_source_fits(const pynn_conv_shape *s)
{
    const direct_source d = direct_source_of(s);
    const ptrdiff_t sizes[] = {d.rows, d.cols, s->cin};
    ptrdiff_t t;
    return !pynn_size_product(sizes, 3, &t);
}

/* Sample xn copied into dst (d->rows x d->cols x cin), zeros around it. */
static void pad_sample(const pynn_conv_shape *s, const direct_source *d, const float *xn,
                       float *dst)
{
    const ptrdiff_t cin = s->cin, row = d->cols * cin;
    const ptrdiff_t left = PYNN_MIN(s->pad_left, d->cols);
    const ptrdiff_t copied = PYNN_MAX(PYNN_MIN(s->w, d->cols - left), 0);
    for (ptrdiff_t r = 0; r < d->rows; r++) {
        float *out = dst + r * row;
        ptrdiff_t iy = r - s->pad_top;
        if (iy < 0 || iy >= s->h) {
            zero_floats(out, row);
            continue;
        }
        zero_floats(out, left * cin);
        copy_floats(out + left * cin, xn + iy * s->w * cin, copied * cin);
        zero_floats(out + (left + copied) * cin, row - (left + copied) * cin);
    }
}

/* ------------------------------------------- weight gradient, small patches */

/* A first layer on single-channel images (3x3: 9 values per patch) makes
 * the weight gradient a GEMM with 9 rows, which the packed GEMM pads to 16
 * and feeds through an unrolled copy of the input.  With AVX-512 it is
 * instead summed in registers, 32 output channels at a time: per output
 * pixel, the patch (at most SMALL_PATCH values, gathered to the stack) times
 * the pixel's gradient row, with the ReLU's derivative and the bias
 * gradient taken on the way.  One pass over dy and y, no unrolled copy.
 * With AVX2, 8 channels at a time (small_patch_grad_avx2).  Both add into
 * dk and db (either may be NULL), so a caller may feed them a sample at a
 * time (pynn_conv2d_pooled_backward). */
#define SMALL_PATCH 12

static int use_small_patch(const pynn_conv_shape *s)
{
#if defined(__x86_64__) || defined(__i386__)
    int level = pynn_cpu_level();
    return patch_size(s) <= SMALL_PATCH &&
           ((level >= PYNN_CPU_AVX512 && s->cout % 32 == 0) ||
            (level == PYNN_CPU_AVX2 && s->cout % 8 == 0 && direct_source_fits(s)));
#else
    (void)s;
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f")))
static void small_patch_grad_avx512(const pynn_conv_shape *s, const float *x, int relu,
                                    const float *y, const float *dy, float *dk, float *db,
                                    ptrdiff_t n0, ptrdiff_t n1)
{
    const ptrdiff_t cin = s->cin, h = s->h, w = s->w, kh = s->kh, kw = s->kw;
    const ptrdiff_t sh = s->sh, sw = s->sw, dh = s->dh, dw = s->dw;
    const ptrdiff_t pad_top = s->pad_top, pad_left = s->pad_left, oh = s->oh, ow = s->ow;
    const ptrdiff_t cout = s->cout, patch = kh * kw * cin;
    const __m512 zero = _mm512_setzero_ps();
    for (ptrdiff_t c0 = 0; c0 < cout; c0 += 32) {
        __m512 acc0[SMALL_PATCH], acc1[SMALL_PATCH];
        for (int t = 0; t < SMALL_PATCH; t++) acc0[t] = acc1[t] = zero;
        if (dk)
            for (ptrdiff_t q = 0; q < patch; q++) {
                acc0[q] = _mm512_loadu_ps(dk + q * cout + c0);
                acc1[q] = _mm512_loadu_ps(dk + q * cout + c0 + 16);
            }
        __m512 bias0 = db ? _mm512_loadu_ps(db + c0) : zero;
        __m512 bias1 = db ? _mm512_loadu_ps(db + c0 + 16) : zero;
        for (ptrdiff_t n = n0; n < n1; n++) {
            const float *xn = x + n * h * w * cin;
            for (ptrdiff_t oy = 0; oy < oh; oy++) {
                ptrdiff_t iy0 = oy * sh - pad_top;
                for (ptrdiff_t ox = 0; ox < ow; ox++) {
                    ptrdiff_t ix0 = ox * sw - pad_left, at = ((n * oh + oy) * ow + ox) * cout + c0;
                    float v[SMALL_PATCH] = {0};
                    int t = 0;
                    if (iy0 >= 0 && iy0 + (kh - 1) * dh < h && ix0 >= 0 &&
                        ix0 + (kw - 1) * dw < w) {
                        /* the whole patch inside the image: no checks */
                        for (ptrdiff_t ky = 0; ky < kh; ky++) {
                            const float *xr = xn + ((iy0 + ky * dh) * w + ix0) * cin;
                            for (ptrdiff_t kx = 0; kx < kw; kx++)
                                for (ptrdiff_t ci = 0; ci < cin; ci++)
                                    v[t++] = xr[kx * dw * cin + ci];
                        }
                    } else {
                        for (ptrdiff_t ky = 0; ky < kh; ky++) {
                            ptrdiff_t iy = iy0 + ky * dh;
                            for (ptrdiff_t kx = 0; kx < kw; kx++) {
                                ptrdiff_t ix = ix0 + kx * dw;
                                int inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
                                const float *xp = xn + (iy * w + ix) * cin;
                                for (ptrdiff_t ci = 0; ci < cin; ci++, t++)
                                    v[t] = inside ? xp[ci] : 0.0f;
                            }
                        }
                    }
                    __m512 g0 = _mm512_loadu_ps(dy + at), g1 = _mm512_loadu_ps(dy + at + 16);
                    if (relu) {
                        g0 = _mm512_maskz_mov_ps(
                            _mm512_cmp_ps_mask(_mm512_loadu_ps(y + at), zero, _CMP_GT_OQ), g0);
                        g1 = _mm512_maskz_mov_ps(
                            _mm512_cmp_ps_mask(_mm512_loadu_ps(y + at + 16), zero, _CMP_GT_OQ),
                            g1);
                    }
                    bias0 = _mm512_add_ps(bias0, g0);
                    bias1 = _mm512_add_ps(bias1, g1);
                    for (int q = 0; q < SMALL_PATCH; q++) {
                        __m512 xv = _mm512_set1_ps(v[q]);
                        acc0[q] = _mm512_fmadd_ps(xv, g0, acc0[q]);
                        acc1[q] = _mm512_fmadd_ps(xv, g1, acc1[q]);
                    }
                }
            }
        }
        if (dk)
            for (ptrdiff_t q = 0; q < patch; q++) {
                _mm512_storeu_ps(dk + q * cout + c0, acc0[q]);
                _mm512_storeu_ps(dk + q * cout + c0 + 16, acc1[q]);
            }
        if (db) {
            _mm512_storeu_ps(db + c0, bias0);
            _mm512_storeu_ps(db + c0 + 16, bias1);
        }
    }
}
#endif

/* ------------------------------------------------------------ direct forward */

/* Convolutions whose patch (kh * kw * cin) is at most DIRECT_MAX_PATCH
 * values run without im2col: a first layer on 1 or 3 channels (9 to 147
 * values), which the GEMM pads to its own tile, and the 3x3x32 layer after
 * it (288), whose unrolled copy, packing of that copy and of the kernel,
 * and separate bias + activation pass cost more than they save.  A tile of
 * up to DIRECT_PIXELS output pixels x DIRECT_LANES output channels is
 * summed in registers: each pixel's patch values are broadcast straight
 * from the input (a table gives each value's offset from the window's
 * top-left corner) against the kernel's rows, which HWIO already lays out
 * as patch x cout.  The bias starts the sums; ReLU and ReLU6 are applied
 * before the one store, other activations to the stored rows while they
 * are in L1.  Padding is handled by copying each sample into a
 * zero-bordered buffer first, so every window lies inside it; a valid
 * convolution reads x in place.  When it is used: see use_direct. */
#define DIRECT_PIXELS 6
#define DIRECT_LANES 16
#define DIRECT_MAX_PATCH 512
#define DIRECT_CHUNK 48

/* One sample's share of a direct forward pass: the kernel, bias and
 * activation, the source its windows are read from (row: floats per
 * source row), the offsets of the patch values from a window's corner. */
typedef struct {
    const float *k, *bias;
    int act;
    float alpha;
    ptrdiff_t patch, cout, cin, ow, sh, sw, row;
    const ptrdiff_t *off;
} direct_args;

/* Computes output pixels y[0:npix] (rows of cout floats), channels
 * [c0, c0 + 16) that exist, from the windows at bases. */
typedef void (*direct_tile_fn)(int npix, const direct_args *a, const float *const *bases,
                               float *y, ptrdiff_t c0);

/* Whether the tile applies the activation itself (the others run over its
 * rows right after the store). */
static int direct_fuses(int act)
{
    return act == PYNN_ACT_LINEAR || act == PYNN_ACT_RELU || act == PYNN_ACT_RELU6;
}

static inline float direct_act(int act, float v)
{
    if (act == PYNN_ACT_RELU || act == PYNN_ACT_RELU6)
        v = v < 0.0f ? 0.0f : v;
    if (act == PYNN_ACT_RELU6)
        v = v > 6.0f ? 6.0f : v;
    return v;
}

/* Portable form: P pixels x L channels summed in arrays that the compiler
 * vectorizes over the channels (L a constant: a full block). */
static inline __attribute__((always_inline)) void
direct_tile_generic(const int P, const int L, const direct_args *a, const float *const *bases,
                    float *y, ptrdiff_t c0)
{
    float acc[DIRECT_PIXELS][DIRECT_LANES];
    for (int i = 0; i < P; i++)
        for (int j = 0; j < L; j++) acc[i][j] = a->bias ? a->bias[c0 + j] : 0.0f;
    const float *kq = a->k + c0;
    for (ptrdiff_t q = 0; q < a->patch; q++, kq += a->cout) {
        ptrdiff_t o = a->off[q];
        for (int i = 0; i < P; i++) {
            float v = bases[i][o];
            for (int j = 0; j < L; j++) acc[i][j] += v * kq[j];
        }
    }
    for (int i = 0; i < P; i++)
        for (int j = 0; j < L; j++) y[i * a->cout + c0 + j] = direct_act(a->act, acc[i][j]);
}

static void direct_tile_run_generic(int npix, const direct_args *a, const float *const *bases,
                                    float *y, ptrdiff_t c0)
{
    if (c0 + DIRECT_LANES > a->cout) { /* the last, partial block: a pixel at a time */
        for (int i = 0; i < npix; i++)
            for (ptrdiff_t j = c0; j < a->cout; j++)
                direct_tile_generic(1, 1, a, bases + i, y + i * a->cout, j);
        return;
    }
    switch (npix) {
    case 6: direct_tile_generic(6, DIRECT_LANES, a, bases, y, c0); break;
    case 5: direct_tile_generic(5, DIRECT_LANES, a, bases, y, c0); break;
    case 4: direct_tile_generic(4, DIRECT_LANES, a, bases, y, c0); break;
    case 3: direct_tile_generic(3, DIRECT_LANES, a, bases, y, c0); break;
    case 2: direct_tile_generic(2, DIRECT_LANES, a, bases, y, c0); break;
    default: direct_tile_generic(1, DIRECT_LANES, a, bases, y, c0); break;
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* AVX2 form: P pixels x 16 channels, twelve 8-float accumulators for six
 * pixels; per patch value two kernel loads and P broadcasts feed 2P FMAs.
 * masked: the last block of a cout that is not a multiple of 16, whose
 * channels that exist are the lanes set in m0, m1. */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
direct_tile_avx2(const int P, const int masked, const direct_args *a, const float *const *bases,
                 float *y, ptrdiff_t c0, __m256i m0, __m256i m1)
{
    __m256 acc0[DIRECT_PIXELS], acc1[DIRECT_PIXELS];
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    if (a->bias) {
        b0 = masked ? _mm256_maskload_ps(a->bias + c0, m0) : _mm256_loadu_ps(a->bias + c0);
        b1 = masked ? _mm256_maskload_ps(a->bias + c0 + 8, m1)
                    : _mm256_loadu_ps(a->bias + c0 + 8);
    }
#pragma GCC unroll 6
    for (int i = 0; i < P; i++) acc0[i] = b0, acc1[i] = b1;
    const float *kq = a->k + c0;
    const ptrdiff_t ldk = a->cout, patch = a->patch;
    const ptrdiff_t *off = a->off;
    for (ptrdiff_t q = 0; q < patch; q++, kq += ldk) {
        __m256 k0 = masked ? _mm256_maskload_ps(kq, m0) : _mm256_loadu_ps(kq);
        __m256 k1 = masked ? _mm256_maskload_ps(kq + 8, m1) : _mm256_loadu_ps(kq + 8);
        ptrdiff_t o = off[q];
#pragma GCC unroll 6
        for (int i = 0; i < P; i++) {
            __m256 v = _mm256_broadcast_ss(bases[i] + o);
            acc0[i] = _mm256_fmadd_ps(v, k0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(v, k1, acc1[i]);
        }
    }
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
#pragma GCC unroll 6
    for (int i = 0; i < P; i++) {
        __m256 r0 = acc0[i], r1 = acc1[i];
        /* max(0, v) and min(6, v) keep a NaN v, as direct_act does */
        if (a->act == PYNN_ACT_RELU || a->act == PYNN_ACT_RELU6) {
            r0 = _mm256_max_ps(zero, r0);
            r1 = _mm256_max_ps(zero, r1);
        }
        if (a->act == PYNN_ACT_RELU6) {
            r0 = _mm256_min_ps(six, r0);
            r1 = _mm256_min_ps(six, r1);
        }
        float *out = y + i * a->cout + c0;
        if (masked) {
            _mm256_maskstore_ps(out, m0, r0);
            _mm256_maskstore_ps(out + 8, m1, r1);
        } else {
            _mm256_storeu_ps(out, r0);
            _mm256_storeu_ps(out + 8, r1);
        }
    }
}

/* A tile of npix (1 to DIRECT_PIXELS) pixels: each count its own copy, so
 * the accumulators stay in registers. */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
direct_tile_any_avx2(int npix, const int masked, const direct_args *a,
                     const float *const *bases, float *y, ptrdiff_t c0, __m256i m0,
                     __m256i m1)
{
    switch (npix) {
    case 6: direct_tile_avx2(6, masked, a, bases, y, c0, m0, m1); break;
    case 5: direct_tile_avx2(5, masked, a, bases, y, c0, m0, m1); break;
    case 4: direct_tile_avx2(4, masked, a, bases, y, c0, m0, m1); break;
    case 3: direct_tile_avx2(3, masked, a, bases, y, c0, m0, m1); break;
    case 2: direct_tile_avx2(2, masked, a, bases, y, c0, m0, m1); break;
    default: direct_tile_avx2(1, masked, a, bases, y, c0, m0, m1); break;
    }
}

__attribute__((target("avx2,fma")))
static void direct_tile_run_avx2(int npix, const direct_args *a, const float *const *bases,
                                 float *y, ptrdiff_t c0)
{
    ptrdiff_t lanes = a->cout - c0;
    if (lanes >= DIRECT_LANES) {
        const __m256i none = _mm256_setzero_si256();
        direct_tile_any_avx2(npix, 0, a, bases, y, c0, none, none);
        return;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes - 8), lane);
    direct_tile_any_avx2(npix, 1, a, bases, y, c0, m0, m1);
}
#endif

/* Pixels [q0, q1) of one sample whose windows start in src, DIRECT_CHUNK
 * pixels at a time: for each block of 16 output channels, all the chunk's
 * tiles, so that the block's kernel columns (patch x 16 floats) stay in L1
 * while they are used (pixels outermost streamed the whole kernel from L2
 * for every tile: 5 to 15 % slower at 288 x 64). */
static void direct_pixels(const direct_args *a, direct_tile_fn tile, const float *src,
                          float *y, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t cout = a->cout;
    for (ptrdiff_t qa = q0; qa < q1; qa += DIRECT_CHUNK) {
        ptrdiff_t qb = PYNN_MIN(qa + DIRECT_CHUNK, q1);
        const float *bases[DIRECT_CHUNK];
        ptrdiff_t oy = qa / a->ow, ox = qa % a->ow;
        for (ptrdiff_t q = qa; q < qb; q++) {
            bases[q - qa] = src + oy * a->sh * a->row + ox * a->sw * a->cin;
            if (++ox == a->ow)
                ox = 0, oy++;
        }
        /* tiles of equal size: 25 pixels as 5 x 5, not 4 x 6 + 1 (one
         * pixel's tile has two chains of dependent FMAs and runs at a
         * third of the speed) */
        const ptrdiff_t tiles = (qb - qa + DIRECT_PIXELS - 1) / DIRECT_PIXELS;
        const ptrdiff_t size = (qb - qa) / tiles, larger = (qb - qa) % tiles;
        for (ptrdiff_t c0 = 0; c0 < cout; c0 += DIRECT_LANES)
            for (ptrdiff_t t = 0, q = qa; t < tiles; t++) {
                int npix = (int)(size + (t < larger));
                tile(npix, a, bases + (q - qa), y + q * cout, c0);
                q += npix;
            }
        if (!direct_fuses(a->act))
            pynn_bias_activation_rows(a->act, a->alpha, y + qa * cout, NULL, y + qa * cout,
                                      cout, 0, qb - qa);
    }
}

/* Whether the direct form runs this convolution.  Measured on a 2-core
 * AVX2 machine (Zen 3), one thread, direct / im2col + GEMM time: 3x3 on
 * 28x28x1 -> 32: 0.4; 5x5 -> 32: 0.3; 3x3 on 32x32x3 -> 64: 0.5-0.6; 7x7
 * stride 2 on 64x64x3 -> 64: 0.8; 3x3 on 13x13x32 -> 64: 0.85-0.9 (one
 * image and 32); 26x26x32 -> 64: 0.9; 14x14x32 -> 128: 0.95; cout 4 to 20:
 * 0.3-0.8.  The portable forms: 0.2-0.3.  Pointwise convolutions need no
 * unrolling and keep the GEMM; patches past DIRECT_MAX_PATCH (a deep
 * layer's 3x3x64 and up) are where the GEMM's packed panels pay. */
static int use_direct(const pynn_conv_shape *s)
{
    return patch_size(s) <= DIRECT_MAX_PATCH && !is_pointwise(s) && direct_source_fits(s);
}

/* off[q] = the offset of patch value q (ky, kx, ci) from its window's
 * top-left corner in a source of `row` floats per row; returns the patch
 * size. */
static ptrdiff_t direct_offsets(const pynn_conv_shape *s, ptrdiff_t row, ptrdiff_t *off)
{
    ptrdiff_t t = 0;
    for (ptrdiff_t ky = 0; ky < s->kh; ky++)
        for (ptrdiff_t kx = 0; kx < s->kw; kx++)
            for (ptrdiff_t ci = 0; ci < s->cin; ci++)
                off[t++] = ky * s->dh * row + kx * s->dw * s->cin + ci;
    return t;
}

#if defined(__x86_64__) || defined(__i386__)
/* The weight gradient of small patches with AVX2 (see SMALL_PATCH): its 16
 * registers of 8 floats do not hold a 32-channel block's sums, so 8
 * channels at a time, one accumulator per patch value (P of them, a
 * constant) plus the bias gradient's.  The patch values are broadcast from
 * the input through the direct forward pass's offsets (and its padded copy
 * of a sample), not unrolled.  dk and db (either may be NULL) are added to;
 * y and dy are the sample's. */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
small_patch_block_avx2(const int P, const pynn_conv_shape *s, const float *src,
                       ptrdiff_t row, const ptrdiff_t *off, int relu, const float *y,
                       const float *dy, ptrdiff_t c0, float *dk, float *db)
{
    const ptrdiff_t cout = s->cout, step = s->sw * s->cin;
    const __m256 zero = _mm256_setzero_ps();
    __m256 acc[SMALL_PATCH], bias = db ? _mm256_loadu_ps(db + c0) : zero;
    ptrdiff_t o[SMALL_PATCH];
#pragma GCC unroll 12
    for (int q = 0; q < P; q++) {
        acc[q] = dk ? _mm256_loadu_ps(dk + q * cout + c0) : zero;
        o[q] = off[q];
    }
    for (ptrdiff_t oy = 0; oy < s->oh; oy++) {
        const float *base = src + oy * s->sh * row;
        const float *g_row = dy + oy * s->ow * cout + c0, *y_row = y + oy * s->ow * cout + c0;
        for (ptrdiff_t ox = 0; ox < s->ow; ox++, base += step) {
            __m256 g = _mm256_loadu_ps(g_row + ox * cout);
            /* y > 0 is false for a NaN y: its gradient is 0, as in the
             * GEMM path's activation pass */
            if (relu)
                g = _mm256_and_ps(g, _mm256_cmp_ps(_mm256_loadu_ps(y_row + ox * cout), zero,
                                                   _CMP_GT_OQ));
            bias = _mm256_add_ps(bias, g);
#pragma GCC unroll 12
            for (int q = 0; q < P; q++)
                acc[q] = _mm256_fmadd_ps(_mm256_broadcast_ss(base + o[q]), g, acc[q]);
        }
    }
    if (dk)
#pragma GCC unroll 12
        for (int q = 0; q < P; q++) _mm256_storeu_ps(dk + q * cout + c0, acc[q]);
    if (db)
        _mm256_storeu_ps(db + c0, bias);
}

/* The weight and bias gradients (added to dk and db) of samples [n0, n1);
 * -1 when the padded copy's buffer cannot be had. */
__attribute__((target("avx2,fma")))
static int small_patch_grad_avx2(const pynn_conv_shape *s, const float *x, int relu,
                                 const float *y, const float *dy, float *dk, float *db,
                                 ptrdiff_t n0, ptrdiff_t n1)
{
    const direct_source d = direct_source_of(s);
    const ptrdiff_t cin = s->cin, row = d.cols * cin, out = s->oh * s->ow * s->cout;
    ptrdiff_t off[SMALL_PATCH];
    int patch = (int)direct_offsets(s, row, off);
    float *buf = NULL;
    if (d.padded) {
        buf = pynn_scratch(PYNN_SCRATCH_COLS, (size_t)(d.rows * row));
        if (!buf)
            return -1;
    }
    for (ptrdiff_t n = n0; n < n1; n++) {
        const float *src = x + n * s->h * s->w * cin;
        if (d.padded) {
            pad_sample(s, &d, src, buf);
            src = buf;
        }
        for (ptrdiff_t c0 = 0; c0 < s->cout; c0 += 8) {
#define SMALL_PATCH_CASE(P)                                                    \
    case P:                                                                    \
        small_patch_block_avx2(P, s, src, row, off, relu, y + n * out, dy + n * out, c0, dk, \
                               db);                                            \
        break
            switch (patch) {
                SMALL_PATCH_CASE(1); SMALL_PATCH_CASE(2); SMALL_PATCH_CASE(3);
                SMALL_PATCH_CASE(4); SMALL_PATCH_CASE(5); SMALL_PATCH_CASE(6);
                SMALL_PATCH_CASE(7); SMALL_PATCH_CASE(8); SMALL_PATCH_CASE(9);
                SMALL_PATCH_CASE(10); SMALL_PATCH_CASE(11); SMALL_PATCH_CASE(12);
            }
#undef SMALL_PATCH_CASE
        }
    }
    return 0;
}
#endif

/* Output pixels [p0, p1) of the n * oh * ow, directly. */
static int direct_forward_pixels(const pynn_conv_shape *s, const float *x, const float *k,
                                 const float *bias, int act, float alpha, float *y,
                                 ptrdiff_t p0, ptrdiff_t p1)
{
    const direct_source d = direct_source_of(s);
    const ptrdiff_t cin = s->cin, pixels = s->oh * s->ow, row = d.cols * cin;
    float *buf = NULL;
    if (d.padded && p1 > p0) {
        buf = pynn_scratch(PYNN_SCRATCH_COLS, (size_t)(d.rows * row));
        if (!buf)
            return -1;
    }
    ptrdiff_t off[DIRECT_MAX_PATCH];
    direct_offsets(s, row, off);
    direct_args a = {k, bias, act, alpha, patch_size(s), s->cout, cin, s->ow, s->sh, s->sw,
                     row, off};
    direct_tile_fn tile = direct_tile_run_generic;
#if defined(__x86_64__) || defined(__i386__)
    if (pynn_cpu_level() >= PYNN_CPU_AVX2)
        tile = direct_tile_run_avx2;
#endif
    for (ptrdiff_t p = p0; p < p1;) {
        ptrdiff_t n = p / pixels, q0 = p - n * pixels, q1 = PYNN_MIN(p1 - n * pixels, pixels);
        const float *src = x + n * s->h * s->w * cin;
        if (d.padded) {
            pad_sample(s, &d, src, buf);
            src = buf;
        }
        direct_pixels(&a, tile, src, y + n * pixels * s->cout, q0, q1);
        p = (n + 1) * pixels;
    }
    return 0;
}

/* Forward over output pixels [p0, p1) of the n * oh * ow, on the calling
 * thread: a group of rows at a time is unrolled, multiplied and activated
 * while in cache. */
static int forward_pixels(const pynn_conv_shape *s, const float *x, const float *k,
                          const float *bias, int act, float alpha, float *y, ptrdiff_t p0,
                          ptrdiff_t p1)
{
    if (use_direct(s))
        return direct_forward_pixels(s, x, k, bias, act, alpha, y, p0, p1);
    const ptrdiff_t patch = patch_size(s), cout = s->cout;
    const int pointwise = is_pointwise(s);
    ptrdiff_t group = group_samples(s) * s->oh * s->ow;
    float *cols = NULL;
    if (!pointwise && p1 > p0) {
        cols = pynn_scratch(PYNN_SCRATCH_COLS,
                            (size_t)(PYNN_MIN(group, p1 - p0) * patch + COLS_SLACK));
        if (!cols)
            return -1;
    }
    for (ptrdiff_t b = p0; b < p1; b += group) {
        ptrdiff_t e = PYNN_MIN(b + group, p1), rows = e - b;
        const float *a = x + b * s->cin; /* pointwise: input pixels are output pixels */
        if (!pointwise) {
            im2col_pixels(s, x, b, e, cols);
            a = cols;
        }
        float *yb = y + b * cout;
        pynn_sgemm_serial(0, 0, rows, cout, patch, 1.0f, a, patch, k, cout, 0.0f, yb, cout);
        if (bias || act != PYNN_ACT_LINEAR)
            pynn_bias_activation_rows(act, alpha, yb, bias, yb, cout, 0, rows);
    }
    return 0;
}

/* ------------------------------------------------- Winograd F(2x2, 3x3) */

/* 3x3 convolutions with stride 1 between 16k channels (a convnet's layers
 * after the first) take Winograd's F(2x2, 3x3): each 2 x 2 block of output
 * pixels (a tile) comes from its 4 x 4 input patch d through 16 products
 * of a transformed patch value V = B^T d B with a transformed kernel value
 * U = G g G^T, summed over the input channels, then Y = A^T M A: 16
 * multiply-adds for the tile's 4 pixels where the direct form takes 36.
 * The transforms' constants are 0, +-1 and 1/2, so they round little (the
 * results stay within a few ulps of the sums' magnitude).  A non-finite
 * input value reaches every output of the tiles whose patches hold it
 * (inf - inf), not only those whose windows do.
 *
 * Tiles are taken WINO_TILES at a time (a strip, in order over samples
 * and tiles): the strip's V (16 x WINO_TILES x cin) and products M (16 x
 * WINO_TILES x cout) stay in L1, and each of the 16 products is a
 * WINO_TILES x cin by cin x cout one summed in registers, 64 output
 * channels at a time with AVX-512, 16 with AVX2.  U is made once a call,
 * 16 x cin x cout floats, shared by the team. */
#define WINO_TILES 6
#define WINO_MAX_CHANNELS 4096
/* The kernel transform holds 16 floats per channel pair (25 in the
 * backward pass, with the turned kernel): up to 1024 x 1024 channels, 64
 * MB; past that the direct form or the GEMM, which need no such copy. */
#define WINO_MAX_PAIRS ((ptrdiff_t)1 << 20)

static const float wino_zeros[WINO_MAX_CHANNELS];

/* The 2 x 2 output tiles of a whole convolution, and their strips. */
static ptrdiff_t wino_tile_count(const pynn_conv_shape *s)
{
    return s->n * ((s->oh + 1) / 2) * ((s->ow + 1) / 2);
}

static ptrdiff_t wino_strip_count(ptrdiff_t tiles)
{
    return (tiles + WINO_TILES - 1) / WINO_TILES;
}

/* The floats between U's 16 planes (cin x cout each): a cache line more
 * than a plane, so the kernel transform's 16 stores of a step fall in 16
 * sets of L1, not one (planes of 32 x 64 channels are 8 KiB apart). */
static ptrdiff_t wino_u_plane(ptrdiff_t cin, ptrdiff_t cout)
{
    return cin * cout + 16;
}

static int use_winograd(const pynn_conv_shape *s, int act)
{
#if defined(__x86_64__) || defined(__i386__)
    return pynn_cpu_level() >= PYNN_CPU_AVX2 && s->kh == 3 && s->kw == 3 && s->sh == 1 &&
           s->sw == 1 && s->dh == 1 && s->dw == 1 && s->cin % 16 == 0 && s->cout % 16 == 0 &&
           s->cin <= WINO_MAX_CHANNELS && s->cout <= WINO_MAX_CHANNELS &&
           s->cin * s->cout <= WINO_MAX_PAIRS && (act == PYNN_ACT_LINEAR || act == PYNN_ACT_RELU);
#else
    (void)s;
    (void)act;
    return 0;
#endif
}

/* The tile transforms run on the machine's vectors, 16 channels at a time
 * with AVX-512 and 8 with AVX2 (use_winograd asks for 16k channels), as
 * GCC's generic vectors: WINO_PER_WIDTH compiles a body once for each,
 * with `lanes` its width (wider generic vectors, split in two on AVX2,
 * spilled to the stack there: the input transform took as long as the
 * products; the kernel transform, made at every call, half their
 * time in a one-image predict). */
typedef float wino_v16 __attribute__((vector_size(64)));
typedef int32_t wino_v16i __attribute__((vector_size(64)));
typedef float wino_v16u __attribute__((vector_size(64), aligned(4), may_alias));
typedef float wino_v8 __attribute__((vector_size(32)));
typedef int32_t wino_v8i __attribute__((vector_size(32)));
typedef float wino_v8u __attribute__((vector_size(32), aligned(4), may_alias));
/* a vector of type V read or written at any float's address */
#define WINO_LD(V, p) (*(const V##u *)(p))
#define WINO_ST(V, p, x) (*(V##u *)(p) = (x))
/* ReLU, keeping a NaN (x < 0 is false for it) */
#define WINO_RELU(V, x) ((V)((V##i)(x) & ~(V##i)((x) < 0.0f)))

#define WINO_EXPAND(...) __VA_ARGS__
#if defined(__x86_64__) || defined(__i386__)
#define WINO_PER_WIDTH(NAME, BODY, PARAMS, ARGS)                               \
    __attribute__((target("avx512f"))) static void NAME##_avx512 PARAMS        \
    {                                                                          \
        BODY(WINO_EXPAND ARGS, 16);                                            \
    }                                                                          \
    __attribute__((target("avx2,fma"))) static void NAME##_avx2 PARAMS        \
    {                                                                          \
        BODY(WINO_EXPAND ARGS, 8);                                             \
    }                                                                          \
    static void NAME PARAMS                                                    \
    {                                                                          \
        if (pynn_cpu_level() >= PYNN_CPU_AVX512)                               \
            NAME##_avx512 ARGS;                                                \
        else                                                                   \
            NAME##_avx2 ARGS;                                                  \
    }
#else /* (use_winograd takes nothing here) */
#define WINO_PER_WIDTH(NAME, BODY, PARAMS, ARGS)                               \
    static void NAME PARAMS { BODY(WINO_EXPAND ARGS, 8); }
#endif


/* U[xi][ci][co] (planes wino_u_plane apart) for xi = 4 i + j and output
 * channels [co0, co1) (16k), from the HWIO kernel k. */
#define WINO_KERNEL_CHUNK(V, g, out, plane, uplane)                            \
    do {                                                                       \
        V t_[4][3];                                                            \
        for (int j_ = 0; j_ < 3; j_++) {                                       \
            V g0_ = WINO_LD(V, (g) + j_ * (plane));                            \
            V g1_ = WINO_LD(V, (g) + (3 + j_) * (plane));                      \
            V g2_ = WINO_LD(V, (g) + (6 + j_) * (plane));                      \
            t_[0][j_] = g0_;                                                   \
            t_[1][j_] = 0.5f * (g0_ + g1_ + g2_);                              \
            t_[2][j_] = 0.5f * (g0_ - g1_ + g2_);                              \
            t_[3][j_] = g2_;                                                   \
        }                                                                      \
        for (int i_ = 0; i_ < 4; i_++) {                                       \
            WINO_ST(V, (out) + (4 * i_ + 0) * (uplane), t_[i_][0]);            \
            WINO_ST(V, (out) + (4 * i_ + 1) * (uplane),                        \
                    0.5f * (t_[i_][0] + t_[i_][1] + t_[i_][2]));               \
            WINO_ST(V, (out) + (4 * i_ + 2) * (uplane),                        \
                    0.5f * (t_[i_][0] - t_[i_][1] + t_[i_][2]));               \
            WINO_ST(V, (out) + (4 * i_ + 3) * (uplane), t_[i_][2]);            \
        }                                                                      \
    } while (0)

static inline __attribute__((always_inline)) void
wino_kernel_body(const pynn_conv_shape *s, const float *restrict k, float *restrict u,
                 ptrdiff_t co0, ptrdiff_t co1, const int lanes)
{
    const ptrdiff_t cin = s->cin, cout = s->cout, plane = cin * cout;
    const ptrdiff_t uplane = wino_u_plane(cin, cout);
    for (ptrdiff_t ci = 0; ci < cin; ci++)
        for (ptrdiff_t co = co0; co < co1; co += lanes) {
            const float *g = k + ci * cout + co;
            float *out = u + ci * cout + co;
            if (lanes == 16)
                WINO_KERNEL_CHUNK(wino_v16, g, out, plane, uplane);
            else
                WINO_KERNEL_CHUNK(wino_v8, g, out, plane, uplane);
        }
}

WINO_PER_WIDTH(wino_kernel, wino_kernel_body,
               (const pynn_conv_shape *s, const float *restrict k, float *restrict u,
                ptrdiff_t co0, ptrdiff_t co1),
               (s, k, u, co0, co1))

/* The tile of index t (over samples, then rows, then columns of tiles). */
typedef struct {
    ptrdiff_t n, oy, ox; /* sample, top-left output pixel */
} wino_tile;

static wino_tile wino_tile_at(const pynn_conv_shape *s, ptrdiff_t t)
{
    const ptrdiff_t th = (s->oh + 1) / 2, tw = (s->ow + 1) / 2;
    wino_tile w;
    w.n = t / (th * tw);
    t -= w.n * th * tw;
    w.oy = 2 * (t / tw);
    w.ox = 2 * (t % tw);
    return w;
}

/* V of tiles [t0, t0 + P) into v[xi][p][ci], planes of `plane` tiles;
 * rows P <= p < plane are zeros.  Each column of B^T d is made from d's
 * rows as it is needed, so that few vectors are live at once. */
#define WINO_INPUT_CHUNK(V, d, out, step, c)                                   \
    for (int j_ = 0; j_ < 4; j_++) {                                           \
        /* r[i] = (d B)[i][j]: d0 - d2, d1 + d2, d2 - d1, d1 - d3 */           \
        const int a_ = j_ == 0 ? 0 : j_ == 2 ? 2 : 1, b_ = j_ == 2 ? 1 : j_ == 3 ? 3 : 2; \
        V r_[4];                                                               \
        for (int i_ = 0; i_ < 4; i_++) {                                       \
            V x_ = WINO_LD(V, (d)[i_][a_] + (c)), y_ = WINO_LD(V, (d)[i_][b_] + (c)); \
            r_[i_] = j_ == 1 ? x_ + y_ : x_ - y_;                              \
        }                                                                      \
        WINO_ST(V, (out) + (0 + j_) * (step) + (c), r_[0] - r_[2]);            \
        WINO_ST(V, (out) + (4 + j_) * (step) + (c), r_[1] + r_[2]);            \
        WINO_ST(V, (out) + (8 + j_) * (step) + (c), r_[2] - r_[1]);            \
        WINO_ST(V, (out) + (12 + j_) * (step) + (c), r_[1] - r_[3]);           \
    }

static inline __attribute__((always_inline)) void
wino_input_body(const pynn_conv_shape *s, const float *x, ptrdiff_t t0, ptrdiff_t P,
                ptrdiff_t plane, float *restrict v, const int lanes)
{
    const ptrdiff_t cin = s->cin, step = plane * cin;
    for (ptrdiff_t p = 0; p < plane; p++) {
        if (p >= P) {
            for (int xi = 0; xi < 16; xi++) memset(v + xi * step + p * cin, 0, cin * sizeof(float));
            continue;
        }
        wino_tile w = wino_tile_at(s, t0 + p);
        const float *xn = x + w.n * s->h * s->w * cin;
        const float *d[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                ptrdiff_t iy = w.oy + i - s->pad_top, ix = w.ox + j - s->pad_left;
                d[i][j] = iy >= 0 && iy < s->h && ix >= 0 && ix < s->w
                              ? xn + (iy * s->w + ix) * cin
                              : wino_zeros;
            }
        float *out = v + p * cin;
        for (ptrdiff_t c = 0; c < cin; c += lanes) {
            if (lanes == 16) {
                WINO_INPUT_CHUNK(wino_v16, d, out, step, c)
            } else {
                WINO_INPUT_CHUNK(wino_v8, d, out, step, c)
            }
        }
    }
}

WINO_PER_WIDTH(wino_input, wino_input_body,
               (const pynn_conv_shape *s, const float *x, ptrdiff_t t0, ptrdiff_t P,
                ptrdiff_t plane, float *restrict v),
               (s, x, t0, P, plane, v))

/* For the kernel gradient (see wino_kernel_grad): Z = A dY A^T of the
 * output gradient's tiles [t0, t0 + P) into z[xi][p][co], planes of P
 * tiles; the pixels of a tile past the output's edge count as zeros.  The
 * rows of A dY are (a, b), (a + c, b + d), (a - c, b - d), (-c, -d) for
 * the tile's [[a, b], [c, d]]; each row (u, v) then gives u, u + v,
 * u - v, -v. */
#define WINO_OUTPUT_GRAD_CHUNK(V, e, out, step, c)                             \
    do {                                                                       \
        V a_ = WINO_LD(V, (e)[0][0] + (c)), b_ = WINO_LD(V, (e)[0][1] + (c));  \
        V c_ = WINO_LD(V, (e)[1][0] + (c)), d_ = WINO_LD(V, (e)[1][1] + (c));  \
        V r_[4][2] = {{a_, b_}, {a_ + c_, b_ + d_}, {a_ - c_, b_ - d_}, {-c_, -d_}}; \
        for (int i_ = 0; i_ < 4; i_++) {                                       \
            WINO_ST(V, (out) + (4 * i_ + 0) * (step) + (c), r_[i_][0]);        \
            WINO_ST(V, (out) + (4 * i_ + 1) * (step) + (c), r_[i_][0] + r_[i_][1]); \
            WINO_ST(V, (out) + (4 * i_ + 2) * (step) + (c), r_[i_][0] - r_[i_][1]); \
            WINO_ST(V, (out) + (4 * i_ + 3) * (step) + (c), -r_[i_][1]);       \
        }                                                                      \
    } while (0)

static inline __attribute__((always_inline)) void
wino_output_grad_body(const pynn_conv_shape *s, const float *g, ptrdiff_t t0, ptrdiff_t P,
                      float *restrict z, const int lanes)
{
    const ptrdiff_t cout = s->cout, step = P * cout;
    for (ptrdiff_t p = 0; p < P; p++) {
        wino_tile w = wino_tile_at(s, t0 + p);
        const float *e[2][2];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                e[i][j] = w.oy + i < s->oh && w.ox + j < s->ow
                              ? g + ((w.n * s->oh + w.oy + i) * s->ow + w.ox + j) * cout
                              : wino_zeros;
        float *out = z + p * cout;
        for (ptrdiff_t c = 0; c < cout; c += lanes) {
            if (lanes == 16)
                WINO_OUTPUT_GRAD_CHUNK(wino_v16, e, out, step, c);
            else
                WINO_OUTPUT_GRAD_CHUNK(wino_v8, e, out, step, c);
        }
    }
}

WINO_PER_WIDTH(wino_output_grad, wino_output_grad_body,
               (const pynn_conv_shape *s, const float *g, ptrdiff_t t0, ptrdiff_t P,
                float *restrict z),
               (s, g, t0, P, z))

/* dk (HWIO) = G^T dU G for each input and output channel, from
 * du[xi][ci][co], the gradient of the transformed kernel U = G g G^T. */
#define WINO_KERNEL_GRAD_CHUNK(V, u, out, plane)                               \
    do {                                                                       \
        V t_[3][4];                                                            \
        for (int j_ = 0; j_ < 4; j_++) {                                       \
            V u0_ = WINO_LD(V, (u) + j_ * (plane));                            \
            V u1_ = WINO_LD(V, (u) + (4 + j_) * (plane));                      \
            V u2_ = WINO_LD(V, (u) + (8 + j_) * (plane));                      \
            V u3_ = WINO_LD(V, (u) + (12 + j_) * (plane));                     \
            t_[0][j_] = u0_ + 0.5f * (u1_ + u2_);                              \
            t_[1][j_] = 0.5f * (u1_ - u2_);                                    \
            t_[2][j_] = 0.5f * (u1_ + u2_) + u3_;                              \
        }                                                                      \
        for (int i_ = 0; i_ < 3; i_++) {                                       \
            WINO_ST(V, (out) + (3 * i_ + 0) * (plane),                         \
                    t_[i_][0] + 0.5f * (t_[i_][1] + t_[i_][2]));               \
            WINO_ST(V, (out) + (3 * i_ + 1) * (plane), 0.5f * (t_[i_][1] - t_[i_][2])); \
            WINO_ST(V, (out) + (3 * i_ + 2) * (plane),                         \
                    0.5f * (t_[i_][1] + t_[i_][2]) + t_[i_][3]);               \
        }                                                                      \
    } while (0)

static inline __attribute__((always_inline)) void
wino_kernel_grad_body(const pynn_conv_shape *s, const float *restrict du, float *restrict dk,
                      const int lanes)
{
    const ptrdiff_t cin = s->cin, cout = s->cout, plane = cin * cout;
    for (ptrdiff_t ci = 0; ci < cin; ci++)
        for (ptrdiff_t co = 0; co < cout; co += lanes) {
            const float *u = du + ci * cout + co;
            float *out = dk + ci * cout + co;
            if (lanes == 16)
                WINO_KERNEL_GRAD_CHUNK(wino_v16, u, out, plane);
            else
                WINO_KERNEL_GRAD_CHUNK(wino_v8, u, out, plane);
        }
}

WINO_PER_WIDTH(wino_kernel_grad, wino_kernel_grad_body,
               (const pynn_conv_shape *s, const float *restrict du, float *restrict dk),
               (s, du, dk))

/* Y = A^T M A of tiles [t0, t0 + P), output channels [c0, c1), plus the bias, through ReLU when
 * relu is set (a NaN stays NaN), into y; the pixels of a tile past the
 * output's edge go to sink (cout floats).  q = A^T m: rows m0 + m1 + m2
 * and m1 - m2 - m3; then each row (a, b, c, d) of q gives a + b + c and
 * b - c - d. */
#define WINO_OUTPUT_CHUNK(V, mp, step, bias, relu, o, c)                       \
    do {                                                                       \
        V q_[2][4];                                                            \
        for (int j_ = 0; j_ < 4; j_++) {                                       \
            V m1_ = WINO_LD(V, (mp) + (4 + j_) * (step) + (c));                \
            V m2_ = WINO_LD(V, (mp) + (8 + j_) * (step) + (c));                \
            q_[0][j_] = WINO_LD(V, (mp) + j_ * (step) + (c)) + m1_ + m2_;      \
            q_[1][j_] = m1_ - m2_ - WINO_LD(V, (mp) + (12 + j_) * (step) + (c)); \
        }                                                                      \
        V b_ = WINO_LD(V, (bias) + (c));                                       \
        for (int i_ = 0; i_ < 2; i_++) {                                       \
            V y0_ = q_[i_][0] + q_[i_][1] + q_[i_][2] + b_;                    \
            V y1_ = q_[i_][1] - q_[i_][2] - q_[i_][3] + b_;                    \
            if (relu) {                                                        \
                y0_ = WINO_RELU(V, y0_);                                       \
                y1_ = WINO_RELU(V, y1_);                                       \
            }                                                                  \
            WINO_ST(V, (o)[i_][0] + (c), y0_);                                 \
            WINO_ST(V, (o)[i_][1] + (c), y1_);                                 \
        }                                                                      \
    } while (0)

static inline __attribute__((always_inline)) void
wino_output_body(const pynn_conv_shape *s, const float *restrict m, const float *bias,
                 int relu, ptrdiff_t t0, int P, ptrdiff_t c0, ptrdiff_t c1, float *y, float *sink,
                 const int lanes)
{
    const ptrdiff_t cout = s->cout, step = WINO_TILES * cout;
    const float *b = bias ? bias : wino_zeros;
    for (int p = 0; p < P; p++) {
        wino_tile w = wino_tile_at(s, t0 + p);
        float *o[2][2];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                o[i][j] = w.oy + i < s->oh && w.ox + j < s->ow
                              ? y + ((w.n * s->oh + w.oy + i) * s->ow + w.ox + j) * cout
                              : sink;
        const float *mp = m + p * cout;
        for (ptrdiff_t c = c0; c < c1; c += lanes) {
            if (lanes == 16)
                WINO_OUTPUT_CHUNK(wino_v16, mp, step, b, relu, o, c);
            else
                WINO_OUTPUT_CHUNK(wino_v8, mp, step, b, relu, o, c);
        }
    }
}

WINO_PER_WIDTH(wino_output, wino_output_body,
               (const pynn_conv_shape *s, const float *restrict m, const float *bias, int relu,
                ptrdiff_t t0, int P, ptrdiff_t c0, ptrdiff_t c1, float *y, float *sink),
               (s, m, bias, relu, t0, P, c0, c1, y, sink))

#if defined(__x86_64__) || defined(__i386__)
/* The small products of Winograd's two uses, summed in registers:
 * c[r][0:n] (+)= sum over k < K of a[r * ars + k * aks] b[k * ldb + 0:n]
 * for rows r < P (a constant), 16 R channels at a time with AVX-512 (R up
 * to 4), 16 with AVX2 (two vectors).  The forward pass's products are 6
 * tiles by cin into cout (a's rows are tiles, read along k); the kernel
 * gradient's are cin by tiles into cout (a's rows are input channels, a
 * column of the tiles' V), added to c. */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
wino_block_avx512(const int P, const int R, ptrdiff_t K, const float *a, ptrdiff_t ars,
                  ptrdiff_t aks, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                  int add)
{
    __m512 acc[6][4];
#pragma GCC unroll 6
    for (int p = 0; p < P; p++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            acc[p][r] = add ? _mm512_loadu_ps(c + p * ldc + 16 * r) : _mm512_setzero_ps();
    for (ptrdiff_t k = 0; k < K; k++) {
        __m512 w[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) w[r] = _mm512_loadu_ps(b + k * ldb + 16 * r);
#pragma GCC unroll 6
        for (int p = 0; p < P; p++) {
            __m512 x = _mm512_set1_ps(a[p * ars + k * aks]);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[p][r] = _mm512_fmadd_ps(x, w[r], acc[p][r]);
        }
    }
#pragma GCC unroll 6
    for (int p = 0; p < P; p++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) _mm512_storeu_ps(c + p * ldc + 16 * r, acc[p][r]);
}

/* All n channels (16k) of P rows, 64 at a time and then the rest. */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
wino_rows_avx512(const int P, ptrdiff_t K, const float *a, ptrdiff_t ars, ptrdiff_t aks,
                 const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, ptrdiff_t n, int add)
{
    ptrdiff_t c0 = 0;
    for (; c0 + 64 <= n; c0 += 64)
        wino_block_avx512(P, 4, K, a, ars, aks, b + c0, ldb, c + c0, ldc, add);
    switch ((n - c0) / 16) {
    case 3: wino_block_avx512(P, 3, K, a, ars, aks, b + c0, ldb, c + c0, ldc, add); break;
    case 2: wino_block_avx512(P, 2, K, a, ars, aks, b + c0, ldb, c + c0, ldc, add); break;
    case 1: wino_block_avx512(P, 1, K, a, ars, aks, b + c0, ldb, c + c0, ldc, add); break;
    }
}

__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
wino_rows_avx2(const int P, ptrdiff_t K, const float *a, ptrdiff_t ars, ptrdiff_t aks,
               const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, ptrdiff_t n, int add)
{
    for (ptrdiff_t c0 = 0; c0 < n; c0 += 16) {
        __m256 acc[6][2];
#pragma GCC unroll 6
        for (int p = 0; p < P; p++) {
            acc[p][0] = add ? _mm256_loadu_ps(c + p * ldc + c0) : _mm256_setzero_ps();
            acc[p][1] = add ? _mm256_loadu_ps(c + p * ldc + c0 + 8) : _mm256_setzero_ps();
        }
        for (ptrdiff_t k = 0; k < K; k++) {
            __m256 w0 = _mm256_loadu_ps(b + k * ldb + c0);
            __m256 w1 = _mm256_loadu_ps(b + k * ldb + c0 + 8);
#pragma GCC unroll 6
            for (int p = 0; p < P; p++) {
                __m256 x = _mm256_broadcast_ss(a + p * ars + k * aks);
                acc[p][0] = _mm256_fmadd_ps(x, w0, acc[p][0]);
                acc[p][1] = _mm256_fmadd_ps(x, w1, acc[p][1]);
            }
        }
#pragma GCC unroll 6
        for (int p = 0; p < P; p++) {
            _mm256_storeu_ps(c + p * ldc + c0, acc[p][0]);
            _mm256_storeu_ps(c + p * ldc + c0 + 8, acc[p][1]);
        }
    }
}

/* m[xi][p][co] = sum over ci of v[xi][p][ci] u[xi][ci][co]: a strip's 16
 * products, for n of the cout output channels (u and m start at the
 * first).  Each sum runs over ci in order whatever n: a range gives the
 * same values as the whole. */
__attribute__((target("avx512f"))) static void
wino_products_avx512(const float *v, const float *u, float *m, ptrdiff_t cin, ptrdiff_t cout,
                     ptrdiff_t n)
{
    for (int xi = 0; xi < 16; xi++)
        wino_rows_avx512(WINO_TILES, cin, v + xi * WINO_TILES * cin, cin, 1,
                         u + xi * wino_u_plane(cin, cout), cout, m + xi * WINO_TILES * cout, cout, n, 0);
}

__attribute__((target("avx2,fma"))) static void
wino_products_avx2(const float *v, const float *u, float *m, ptrdiff_t cin, ptrdiff_t cout,
                   ptrdiff_t n)
{
    for (int xi = 0; xi < 16; xi++)
        wino_rows_avx2(WINO_TILES, cin, v + xi * WINO_TILES * cin, cin, 1,
                       u + xi * wino_u_plane(cin, cout), cout, m + xi * WINO_TILES * cout, cout, n, 0);
}

/* du[xi][ci][co] += sum over the tiles of v[xi][t][ci] z[xi][t][co]: the
 * kernel gradient's 16 products over `tiles` tiles. */
/* (6 input channels at a time, then the 2 or 4 left of 16k: with 4 at a
 * time AVX2's 8 sums waited on their loads) */
#define WINO_GRAD_PRODUCTS(ROWS)                                               \
    for (int xi = 0; xi < 16; xi++) {                                          \
        const float *vx = v + xi * tiles * cin, *zx = z + xi * tiles * cout;   \
        float *dx = du + xi * cin * cout;                                      \
        ptrdiff_t ci = 0;                                                      \
        for (; ci + 6 <= cin; ci += 6)                                         \
            ROWS(6, tiles, vx + ci, 1, cin, zx, cout, dx + ci * cout, cout, cout, 1); \
        if (cin - ci == 4)                                                     \
            ROWS(4, tiles, vx + ci, 1, cin, zx, cout, dx + ci * cout, cout, cout, 1); \
        else if (cin - ci == 2)                                                \
            ROWS(2, tiles, vx + ci, 1, cin, zx, cout, dx + ci * cout, cout, cout, 1); \
    }

__attribute__((target("avx512f"))) static void
wino_grad_products_avx512(const float *v, const float *z, float *du, ptrdiff_t tiles,
                          ptrdiff_t cin, ptrdiff_t cout)
{
    WINO_GRAD_PRODUCTS(wino_rows_avx512)
}

__attribute__((target("avx2,fma"))) static void
wino_grad_products_avx2(const float *v, const float *z, float *du, ptrdiff_t tiles,
                        ptrdiff_t cin, ptrdiff_t cout)
{
    WINO_GRAD_PRODUCTS(wino_rows_avx2)
}
#endif

/* Strips [q0, q1) of the tiles, output channels [co0, co1) (16k), on the
 * calling thread. */
static int wino_strips(const pynn_conv_shape *s, const float *x, const float *u,
                       const float *bias, int act, float *y, ptrdiff_t tiles, ptrdiff_t q0,
                       ptrdiff_t q1, ptrdiff_t co0, ptrdiff_t co1)
{
    float *v = pynn_scratch(PYNN_SCRATCH_WINO,
                            (size_t)(16 * WINO_TILES * (s->cin + s->cout) + s->cout));
    if (!v)
        return -1;
    float *m = v + 16 * WINO_TILES * s->cin, *sink = m + 16 * WINO_TILES * s->cout;
    for (ptrdiff_t q = q0; q < q1; q++) {
        ptrdiff_t t0 = q * WINO_TILES;
        int P = (int)PYNN_MIN(WINO_TILES, tiles - t0);
        wino_input(s, x, t0, P, WINO_TILES, v);
#if defined(__x86_64__) || defined(__i386__)
        if (pynn_cpu_level() >= PYNN_CPU_AVX512)
            wino_products_avx512(v, u + co0, m + co0, s->cin, s->cout, co1 - co0);
        else
            wino_products_avx2(v, u + co0, m + co0, s->cin, s->cout, co1 - co0);
#endif
        wino_output(s, m, bias, act == PYNN_ACT_RELU, t0, P, co0, co1, y, sink);
    }
    return 0;
}

/* The input gradient of a 3x3 convolution is a 3x3 convolution of its
 * output gradient (samples [0, n) of it), padded by 2 - the padding, with
 * the kernel turned half a turn and its channel axes swapped: that shape,
 * for Winograd when it takes it (a padding of at most 2). */
static int wino_backward_shape(const pynn_conv_shape *s, ptrdiff_t n, pynn_conv_shape *t)
{
    *t = *s;
    t->n = n;
    t->h = s->oh;
    t->w = s->ow;
    t->cin = s->cout;
    t->cout = s->cin;
    t->pad_top = 2 - s->pad_top;
    t->pad_left = 2 - s->pad_left;
    t->oh = s->h;
    t->ow = s->w;
    return s->kh == 3 && s->kw == 3 && s->pad_top <= 2 && s->pad_left <= 2 &&
           use_winograd(t, PYNN_ACT_LINEAR);
}

/* That turned kernel (HWIO of the shape above) from k. */
static void wino_turned_kernel(const pynn_conv_shape *s, const float *k, float *turned)
{
    const ptrdiff_t cin = s->cin, cout = s->cout;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            const float *src = k + ((2 - i) * 3 + (2 - j)) * cin * cout;
            float *dst = turned + (i * 3 + j) * cout * cin;
            for (ptrdiff_t co = 0; co < cout; co++)
                for (ptrdiff_t ci = 0; ci < cin; ci++) dst[co * cin + ci] = src[ci * cout + co];
        }
}

/* The work of F(2x2, 3x3): the multiply-adds (16 to a vector step) and the
 * transforms. */
static ptrdiff_t wino_work(const pynn_conv_shape *s)
{
    const ptrdiff_t tiles = pynn_work(s->n, pynn_work((s->oh + 1) / 2, (s->ow + 1) / 2));
    return pynn_work(tiles, pynn_work(s->cin, s->cout) + 16 * (s->cin + s->cout));
}

/* Output channels [co0, co1) of the whole convolution, U's part for them
 * included. */
static int wino_band(const pynn_conv_shape *s, const float *x, const float *k, float *u,
                     const float *bias, int act, float *y, ptrdiff_t tiles, ptrdiff_t co0,
                     ptrdiff_t co1)
{
    if (co0 >= co1)
        return 0;
    wino_kernel(s, k, u, co0, co1);
    return wino_strips(s, x, u, bias, act, y, tiles, 0, wino_strip_count(tiles), co0, co1);
}

/* The whole convolution through F(2x2, 3x3) (see use_winograd). */
static int winograd_forward(const pynn_conv_shape *s, const float *x, const float *k,
                            const float *bias, int act, float *y)
{
    const ptrdiff_t tiles = wino_tile_count(s);
    const ptrdiff_t strips = wino_strip_count(tiles);
    const ptrdiff_t cout = s->cout;
    float *u = pynn_scratch(PYNN_SCRATCH_WINO_U, (size_t)(16 * wino_u_plane(s->cin, cout)));
    if (!u)
        return -1;
    const ptrdiff_t work = wino_work(s);
    int nt = pynn_team_threads(work, PYNN_FORWARD_MIN_WORK, PYNN_FORWARD_HOT_MIN_WORK);
    int err = 0;
    if (nt > 1 && (work < PYNN_FORWARD_MIN_WORK || strips < 2 * nt)) {
        /* Forked only because the team is awake (one image's predict):
         * each thread takes a band of the output channels, its part of U
         * and every tile's V, no barrier between (U made on the caller
         * first let the team fall asleep, and the whole layer then ran
         * on the caller). */
        PYNN_PARALLEL_SHARES(nt, cout / 16,
                             if (wino_band(s, x, k, u, bias, act, y, tiles, 16 * lo, 16 * hi))
                                 __atomic_store_n(&err, 1, __ATOMIC_RELAXED));
        return err ? -1 : 0;
    }
    wino_kernel(s, k, u, 0, cout);
    if (nt <= 1)
        return wino_strips(s, x, u, bias, act, y, tiles, 0, strips, 0, cout);
    PYNN_PARALLEL_RANGE(nt, strips, if (wino_strips(s, x, u, bias, act, y, tiles, lo, hi, 0, cout))
                                        __atomic_store_n(&err, 1, __ATOMIC_RELAXED));
    return err ? -1 : 0;
}

int pynn_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                        const float *bias, int act, float alpha, float *y)
{
    PYNN_FTZ_SCOPE;
    if (!conv_shape_valid(s, 0))
        return PYNN_EINVAL;
    if (use_winograd(s, act))
        return winograd_forward(s, x, k, bias, act, y);
    /* Threads split the output pixels (not the samples, so one image's
     * predict uses every core too), each unrolling and multiplying its
     * pieces with no further synchronization. */
    const ptrdiff_t total = s->n * s->oh * s->ow;
    /* work: the multiply-adds (8 to a vector step), the unrolling and the
     * activation pass */
    const ptrdiff_t work =
        pynn_work(total, pynn_work(patch_size(s), s->cout) / 8 + patch_size(s) + s->cout);
    int nt = pynn_team_threads(work, PYNN_FORWARD_MIN_WORK, PYNN_FORWARD_HOT_MIN_WORK);
    if (nt <= 1 || total < 16 * nt)
        return forward_pixels(s, x, k, bias, act, alpha, y, 0, total);
    int err = 0;
    pynn_region region;
    if (work < PYNN_FORWARD_MIN_WORK) {
        /* Work forked only because the team is awake (one image's
         * layers) takes tens of microseconds: one band of pixels a
         * thread, the same in every call (see pynn_pieces), with no
         * counters to pass between the cores (one image's 13x13x32 -> 64
         * convolution on two threads: 21.4 us, against 22.3 in pieces). */
        pynn_region_fork(&region);
#pragma omp parallel num_threads(nt) reduction(| : err)
        {
            PYNN_FTZ_SCOPE;
            if (pynn_thread_id() > 0)
                pynn_region_enter(&region);
            ptrdiff_t lo, hi;
            pynn_thread_range(total, &lo, &hi);
            err |= forward_pixels(s, x, k, bias, act, alpha, y, lo, hi);
        }
        pynn_region_join(&region);
        return err ? -1 : 0;
    }
    /* Pieces of pixels, a few per thread, dealt as pynn_pieces says, as
     * many for each thread (7 pieces on two threads had one thread take 4
     * of them: 3.5 % slower). */
    const ptrdiff_t count = nt * PYNN_MAX(1, PYNN_MIN(total / 16, 4 * (ptrdiff_t)nt) / nt);
    pynn_pieces pieces;
    pynn_pieces_init(&pieces, nt);
    pynn_region_fork(&region);
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        PYNN_FTZ_SCOPE;
        int t = pynn_thread_id(), turn = 0;
        if (t > 0)
            pynn_region_enter(&region);
        for (ptrdiff_t q; (q = pynn_pieces_take(&pieces, 0, count, t, &turn)) >= 0;)
            err |= forward_pixels(s, x, k, bias, act, alpha, y, total * q / count,
                                  total * (q + 1) / count);
        if (t == 0)
            pynn_region_done(&region);
    }
    pynn_region_join(&region);
    return err ? -1 : 0;
}

/* sums[j] += sum over i of g[i, j] (a bias gradient). */
static void add_column_sums(const float *restrict g, ptrdiff_t rows, ptrdiff_t cols,
                            float *restrict sums)
{
    for (ptrdiff_t i = 0; i < rows; i++)
        for (ptrdiff_t j = 0; j < cols; j++) sums[j] += g[i * cols + j];
}

/* What the backward pass needs besides the geometry. */
typedef struct {
    const float *x, *k;
    int act;
    float alpha;
    const float *pre, *y, *dy;
    /* pynn_conv2d_pooled_backward's pooling, its output and their gradient */
    const pynn_pool_shape *pool;
    const float *pool_y, *pool_dy;
    /* the turned kernel's Winograd transform, when the input gradient
     * takes F(2x2, 3x3) (see wino_backward_shape) */
    const float *wino_u;
} backward_args;

/* Backward over samples [n0, n1): writes this share's kernel and bias
 * gradients into dk_part and db_part (each may be NULL) and dx of the
 * share. */
static int backward_range(const pynn_conv_shape *s, const backward_args *a, float *dk_part,
                          float *db_part, float *dx, ptrdiff_t n0, ptrdiff_t n1, int serial)
{
    const ptrdiff_t pixels = s->oh * s->ow, patch = patch_size(s), cout = s->cout;
    const int pointwise = is_pointwise(s);
    gemm_fn gemm = serial ? pynn_sgemm_serial : pynn_sgemm;
    ptrdiff_t group = serial ? group_samples(s) : n1 - n0;
    if (dk_part)
        memset(dk_part, 0, patch * cout * sizeof(float));
    if (db_part)
        memset(db_part, 0, cout * sizeof(float));
    if (n1 <= n0)
        return 0;
#if defined(__x86_64__) || defined(__i386__)
    if ((dk_part || db_part) && use_small_patch(s) &&
        (a->act == PYNN_ACT_LINEAR || a->act == PYNN_ACT_RELU)) {
        int relu = a->act == PYNN_ACT_RELU;
        if (pynn_cpu_level() >= PYNN_CPU_AVX512)
            small_patch_grad_avx512(s, a->x, relu, a->y, a->dy, dk_part, db_part, n0, n1);
        else if (small_patch_grad_avx2(s, a->x, relu, a->y, a->dy, dk_part, db_part, n0, n1))
            return -1;
        if (!dx)
            return 0;
        dk_part = db_part = NULL; /* the input gradient still takes the GEMM */
    }
#endif
    /* The kernel gradient through F(2x2, 3x3) where the forward pass may
     * take it: dU[xi] = the sum over tiles of V[xi]^T Z[xi] (16 products
     * of cin x tiles by tiles x cout, 16 multiply-adds a tile where the
     * unrolled product takes 36, and no unrolled copy), then dk = G^T dU G
     * (see wino_output_grad).  Their sums run in registers
     * (wino_grad_products): through the packed GEMM, packing took as long
     * as the products. */
    const int wino_dk = dk_part && use_winograd(s, PYNN_ACT_LINEAR);
    const ptrdiff_t wino_tiles = ((s->oh + 1) / 2) * ((s->ow + 1) / 2);
    float *cols = NULL, *grad = NULL, *du = NULL;
    /* cols: the unrolled input or its product with the kernel, or the
     * transformed tiles, one after the other */
    const int unrolls = !pointwise && ((dk_part && !wino_dk) || (dx && !a->wino_u));
    const ptrdiff_t cols_size =
        PYNN_MAX(unrolls ? group * pixels * patch + COLS_SLACK : 0,
                 wino_dk ? 16 * group * wino_tiles * (s->cin + cout) : 0);
    if (cols_size) {
        cols = pynn_scratch(PYNN_SCRATCH_COLS, (size_t)cols_size);
        if (!cols)
            return -1;
    }
    if (wino_dk) {
        du = pynn_scratch(PYNN_SCRATCH_WINO_DU, (size_t)(16 * s->cin * cout));
        if (!du)
            return -1;
        memset(du, 0, 16 * s->cin * cout * sizeof(float));
    }
    if (a->act != PYNN_ACT_LINEAR) {
        grad = pynn_scratch(PYNN_SCRATCH_GRAD, (size_t)(group * pixels * cout));
        if (!grad)
            return -1;
    }
    for (ptrdiff_t b = n0; b < n1; b += group) {
        ptrdiff_t e = PYNN_MIN(b + group, n1), rows = (e - b) * pixels;
        ptrdiff_t at = b * pixels * cout;
        const float *g = a->dy + at;
        if (grad) {
            pynn_activation_backward_rows(a->act, a->alpha, a->pre ? a->pre + at : NULL,
                                          a->y + at, g, grad, cout, 0, rows);
            g = grad;
        }
        if (db_part)
            add_column_sums(g, rows, cout, db_part);
        if (wino_dk) {
            pynn_conv_shape sg = *s;
            sg.n = e - b;
            const ptrdiff_t tiles = sg.n * wino_tiles;
            float *v = cols, *z = cols + 16 * tiles * s->cin;
            wino_input(&sg, a->x + b * s->h * s->w * s->cin, 0, tiles, tiles, v);
            wino_output_grad(&sg, g, 0, tiles, z);
#if defined(__x86_64__) || defined(__i386__)
            if (pynn_cpu_level() >= PYNN_CPU_AVX512)
                wino_grad_products_avx512(v, z, du, tiles, s->cin, cout);
            else
                wino_grad_products_avx2(v, z, du, tiles, s->cin, cout);
#endif
        } else if (dk_part) {
            const float *src = a->x + b * pixels * s->cin;
            if (!pointwise) {
                im2col(s, a->x, b, e, cols);
                src = cols;
            }
            gemm(1, 0, patch, cout, rows, 1.0f, src, patch, g, cout, 1.0f, dk_part, cout);
        }
        if (dx && a->wino_u) {
            pynn_conv_shape t;
            wino_backward_shape(s, e - b, &t);
            const ptrdiff_t tiles = wino_tile_count(&t);
            if (wino_strips(&t, g, a->wino_u, NULL, PYNN_ACT_LINEAR,
                            dx + b * s->h * s->w * s->cin, tiles, 0, wino_strip_count(tiles), 0,
                            t.cout))
                return -1;
        } else if (dx) {
            if (pointwise) {
                gemm(0, 1, rows, patch, cout, 1.0f, g, cout, a->k, cout, 0.0f,
                     dx + b * pixels * s->cin, patch);
            } else {
                gemm(0, 1, rows, patch, cout, 1.0f, g, cout, a->k, cout, 0.0f, cols, patch);
                col2im(s, cols, b, e, dx);
            }
        }
    }
    if (wino_dk)
        wino_kernel_grad(s, du, dk_part);
    return 0;
}

/* dst[i] = sum over t of parts[t][off + i] for i in [lo, hi), in the
 * parts' order so the result does not depend on which finished first. */
static void sum_parts(float *const *parts, int count, ptrdiff_t off, float *dst, ptrdiff_t lo,
                      ptrdiff_t hi)
{
    for (ptrdiff_t i = lo; i < hi; i++) {
        float v = parts[0][off + i];
        for (int t = 1; t < count; t++) v += parts[t][off + i];
        dst[i] = v;
    }
}

/* One thread's share of a backward pass: samples [n0, n1) (see
 * backward_range). */
typedef int (*backward_share)(const pynn_conv_shape *s, const backward_args *a, float *dk_part,
                              float *db_part, float *dx, ptrdiff_t n0, ptrdiff_t n1,
                              int serial);

/* Runs `share` over all samples: on the calling thread when nt is 1 or
 * there are fewer samples than threads; otherwise the samples are cut into
 * pieces (a few per thread) dealt as pynn_pieces says, so a thread whose
 * core another process also wants does fewer of them.  Each
 * piece sums its kernel and bias gradients into a buffer of its own,
 * [dk | db] (dk_size + db_size floats), and the buffers are then added
 * slice by slice in piece order: the result depends on neither which
 * thread took a piece nor which finished first. */
static int over_samples(const pynn_conv_shape *s, const backward_args *a, backward_share share,
                        int nt, ptrdiff_t dk_size, ptrdiff_t db_size, float *dk, float *db,
                        float *dx)
{
    if (!(nt > 1 && s->n >= nt))
        return share(s, a, dk, db, dx, 0, s->n, 0);
    const ptrdiff_t pieces = PYNN_MIN(s->n, 4 * (ptrdiff_t)nt), part_size = dk_size + db_size;
    float *parts[4 * PYNN_MAX_THREADS];
    if (dk || db) {
        ptrdiff_t total;
        float *all = pynn_mul_size(pieces, part_size, &total)
                         ? NULL
                         : pynn_scratch(PYNN_SCRATCH_PARTIAL, (size_t)total);
        if (!all)
            return -1;
        for (ptrdiff_t q = 0; q < pieces; q++) parts[q] = all + q * part_size;
    }
    int failed = 0;
    pynn_pieces dealt;
    pynn_pieces_init(&dealt, nt);
#pragma omp parallel num_threads(nt)
    {
        PYNN_FTZ_SCOPE;
        int t = pynn_thread_id(), turn = 0;
        for (ptrdiff_t q; (q = pynn_pieces_take(&dealt, 0, pieces, t, &turn)) >= 0;) {
            float *part = dk || db ? parts[q] : NULL;
            if (share(s, a, dk ? part : NULL, db ? part + dk_size : NULL, dx,
                      s->n * q / pieces, s->n * (q + 1) / pieces, 1)) {
#pragma omp atomic write
                failed = 1;
            }
        }
#pragma omp barrier
        if (!failed) {
            ptrdiff_t i0, i1;
            if (dk) {
                pynn_thread_range(dk_size, &i0, &i1);
                sum_parts(parts, (int)pieces, 0, dk, i0, i1);
            }
            if (db) {
                pynn_thread_range(db_size, &i0, &i1);
                sum_parts(parts, (int)pieces, dk_size, db, i0, i1);
            }
        }
    }
    return failed ? -1 : 0;
}

int pynn_conv2d_backward(const pynn_conv_shape *s, const float *x, const float *k,
                         int act, float alpha, const float *pre, const float *y,
                         const float *dy, float *dk, float *db, float *dx)
{
    PYNN_FTZ_SCOPE;
    if (!conv_shape_valid(s, 0))
        return PYNN_EINVAL;
    backward_args a = {x, k, act, alpha, pre, y, dy, NULL, NULL, NULL, NULL};
    if (!dk && !db && !dx)
        return 0;
    pynn_conv_shape t;
    if (dx && wino_backward_shape(s, s->n, &t)) {
        /* F(2x2, 3x3) for the input gradient: 13x13x32 -> 64, 128
         * samples, one thread: 4.4 ms where the product and col2im took
         * 7.0 */
        const ptrdiff_t u_size = 16 * wino_u_plane(s->cout, s->cin);
        float *u = pynn_scratch(PYNN_SCRATCH_WINO_U, (size_t)(u_size + 9 * s->cin * s->cout));
        if (!u)
            return -1;
        float *turned = u + u_size;
        wino_turned_kernel(s, k, turned);
        wino_kernel(&t, turned, u, 0, t.cout);
        a.wino_u = u;
    }
    int nt = pynn_threads_for(
        pynn_work(s->n * s->oh * s->ow, pynn_work(patch_size(s), s->cout)) / 4);
    return over_samples(s, &a, backward_range, nt, patch_size(s) * s->cout, s->cout, dk, db,
                        dx);
}

/* ------------------------------------------ through a max pooling after it */

/* A first layer's output read only by a 2 x 2 max pooling (the classic
 * convnet's conv -> pool): its weight gradient needs the pooling's input
 * gradient, which is as large as the layer's output (26 x 26 x 32 floats
 * an MNIST image, 11 MB a batch of 128) and three quarters zeros.  Written
 * out whole and read back, that gradient cost more than routing it or
 * summing the weight gradient from it (each pass went to memory).  Here
 * each sample's routed gradient goes to a buffer of the thread's own,
 * which the weight gradient then reads while it is still in cache.  The
 * sums are those of pooling backward and then conv2d backward, in the
 * same order: the same bits. */
int pynn_conv2d_pooled_backward_fits(const pynn_conv_shape *s, const pynn_pool_shape *p,
                                     int act)
{
    return conv_shape_valid(s, 0) && use_small_patch(s) &&
           (act == PYNN_ACT_LINEAR || act == PYNN_ACT_RELU) && p->n == s->n &&
           p->h == s->oh && p->w == s->ow && p->c == s->cout && p->ph >= 1 && p->pw >= 1 &&
           p->oh >= 0 && p->ow >= 0 && pynn_pool_windows_disjoint(p);
}

static int pooled_range(const pynn_conv_shape *s, const backward_args *a, float *dk_part,
                        float *db_part, float *dx, ptrdiff_t n0, ptrdiff_t n1, int serial)
{
    (void)dx;
    (void)serial;
#if defined(__x86_64__) || defined(__i386__)
    const pynn_pool_shape *p = a->pool;
    const ptrdiff_t in = s->h * s->w * s->cin, out = s->oh * s->ow * s->cout;
    const ptrdiff_t pooled = p->oh * p->ow * p->c;
    if (dk_part)
        memset(dk_part, 0, patch_size(s) * s->cout * sizeof(float));
    if (db_part)
        memset(db_part, 0, s->cout * sizeof(float));
    float *g = pynn_scratch(PYNN_SCRATCH_GRAD, (size_t)out);
    if (!g)
        return -1;
    pynn_conv_shape one = *s;
    pynn_pool_shape pone = *p;
    one.n = pone.n = 1;
    const int relu = a->act == PYNN_ACT_RELU;
    for (ptrdiff_t n = n0; n < n1; n++) {
        pynn_max_pool_route(&pone, a->y + n * out, a->pool_y + n * pooled,
                            a->pool_dy + n * pooled, g, 0, 1);
        if (pynn_cpu_level() >= PYNN_CPU_AVX512)
            small_patch_grad_avx512(&one, a->x + n * in, relu, a->y + n * out, g, dk_part,
                                    db_part, 0, 1);
        else if (small_patch_grad_avx2(&one, a->x + n * in, relu, a->y + n * out, g, dk_part,
                                       db_part, 0, 1))
            return -1;
    }
    return 0;
#else
    /* (the small-patch kernels are x86's: nothing fits elsewhere) */
    (void)s, (void)a, (void)dk_part, (void)db_part, (void)n0, (void)n1;
    return -1;
#endif
}

int pynn_conv2d_pooled_backward(const pynn_conv_shape *s, const pynn_pool_shape *p,
                                const float *x, int act, const float *y, const float *pool_y,
                                const float *pool_dy, float *dk, float *db)
{
    PYNN_FTZ_SCOPE;
    if (!pynn_conv2d_pooled_backward_fits(s, p, act))
        return PYNN_EINVAL;
    backward_args a = {x, NULL, act, 0.0f, NULL, y, NULL, p, pool_y, pool_dy, NULL};
    if (!dk && !db)
        return 0;
    /* the thread count and pieces of pynn_conv2d_backward: the same sums */
    int nt = pynn_threads_for(
        pynn_work(s->n * s->oh * s->ow, pynn_work(patch_size(s), s->cout)) / 4);
    return over_samples(s, &a, pooled_range, nt, patch_size(s) * s->cout, s->cout, dk, db,
                        NULL);
}

/* ------------------------------------------------------------- depthwise */

/* Output rows [r0, r1) of the n * oh rows. */
static inline __attribute__((always_inline)) void
depthwise_forward_body(const pynn_conv_shape *s, const float *x, const float *k,
                       const float *bias, int act, float alpha, float *y, ptrdiff_t r0,
                       ptrdiff_t r1)
{
    const ptrdiff_t cin = s->cin, mult = s->cout, cout = cin * mult;
    for (ptrdiff_t r = r0; r < r1; r++) {
        ptrdiff_t n = r / s->oh, oy = r % s->oh;
        const float *xn = x + n * s->h * s->w * cin;
        float *yrow = y + r * s->ow * cout;
        for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
            float *out = yrow + ox * cout;
            for (ptrdiff_t c = 0; c < cout; c++) out[c] = 0.0f;
            for (ptrdiff_t ky = 0; ky < s->kh; ky++) {
                ptrdiff_t iy = oy * s->sh - s->pad_top + ky * s->dh;
                if (iy < 0 || iy >= s->h)
                    continue;
                for (ptrdiff_t kx = 0; kx < s->kw; kx++) {
                    ptrdiff_t ix = ox * s->sw - s->pad_left + kx * s->dw;
                    if (ix < 0 || ix >= s->w)
                        continue;
                    const float *xp = xn + (iy * s->w + ix) * cin;
                    const float *kp = k + (ky * s->kw + kx) * cout;
                    if (mult == 1) {
                        for (ptrdiff_t c = 0; c < cin; c++) out[c] += xp[c] * kp[c];
                    } else {
                        for (ptrdiff_t c = 0; c < cin; c++)
                            for (ptrdiff_t m = 0; m < mult; m++)
                                out[c * mult + m] += xp[c] * kp[c * mult + m];
                    }
                }
            }
        }
        pynn_bias_activation_rows(act, alpha, yrow, bias, yrow, cout, 0, s->ow);
    }
}

/* The depthwise loops run over contiguous channels: compiled per
 * instruction set, as activation.c's. */
PYNN_PER_LEVEL(static, depthwise_forward_rows, depthwise_forward_body,
               (const pynn_conv_shape *s, const float *x, const float *k, const float *bias,
                int act, float alpha, float *y, ptrdiff_t r0, ptrdiff_t r1),
               (s, x, k, bias, act, alpha, y, r0, r1))

int pynn_depthwise_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                                  const float *bias, int act, float alpha, float *y)
{
    PYNN_FTZ_SCOPE;
    if (!conv_shape_valid(s, 1))
        return PYNN_EINVAL;
    ptrdiff_t rows = s->n * s->oh;
    int nt = pynn_threads_for(
        pynn_work(rows * s->ow * s->cin * s->cout, s->kh * s->kw));
    PYNN_PARALLEL_RANGE(nt, rows,
                        depthwise_forward_rows(s, x, k, bias, act, alpha, y, lo, hi));
    return 0;
}

/* Samples [n0, n1): adds into dk_part (overwritten first, when not NULL)
 * and writes dx of those samples. */
static inline __attribute__((always_inline)) void
depthwise_backward_body(const pynn_conv_shape *s, const float *x, const float *k,
                        const float *dy, float *dk_part, float *dx, ptrdiff_t n0, ptrdiff_t n1)
{
    const ptrdiff_t cin = s->cin, mult = s->cout, cout = cin * mult;
    const ptrdiff_t in_size = s->h * s->w * cin;
    if (dk_part)
        memset(dk_part, 0, s->kh * s->kw * cout * sizeof(float));
    if (dx)
        memset(dx + n0 * in_size, 0, (n1 - n0) * in_size * sizeof(float));
    for (ptrdiff_t n = n0; n < n1; n++) {
        const float *xn = x + n * in_size;
        float *dn = dx ? dx + n * in_size : NULL;
        for (ptrdiff_t oy = 0; oy < s->oh; oy++) {
            for (ptrdiff_t ox = 0; ox < s->ow; ox++) {
                const float *g = dy + ((n * s->oh + oy) * s->ow + ox) * cout;
                for (ptrdiff_t ky = 0; ky < s->kh; ky++) {
                    ptrdiff_t iy = oy * s->sh - s->pad_top + ky * s->dh;
                    if (iy < 0 || iy >= s->h)
                        continue;
                    for (ptrdiff_t kx = 0; kx < s->kw; kx++) {
                        ptrdiff_t ix = ox * s->sw - s->pad_left + kx * s->dw;
                        if (ix < 0 || ix >= s->w)
                            continue;
                        ptrdiff_t at = (iy * s->w + ix) * cin, tap = (ky * s->kw + kx) * cout;
                        const float *xp = xn + at, *kp = k + tap;
                        if (mult == 1) {
                            if (dk_part) {
                                float *dkp = dk_part + tap;
                                for (ptrdiff_t c = 0; c < cin; c++) dkp[c] += xp[c] * g[c];
                            }
                            if (dn) {
                                float *dp = dn + at;
                                for (ptrdiff_t c = 0; c < cin; c++) dp[c] += kp[c] * g[c];
                            }
                        } else {
                            for (ptrdiff_t c = 0; c < cin; c++) {
                                float acc = 0.0f;
                                for (ptrdiff_t m = 0; m < mult; m++) {
                                    ptrdiff_t o = c * mult + m;
                                    if (dk_part)
                                        dk_part[tap + o] += xp[c] * g[o];
                                    acc += kp[o] * g[o];
                                }
                                if (dn)
                                    dn[at + c] += acc;
                            }
                        }
                    }
                }
            }
        }
    }
}

PYNN_PER_LEVEL(static, depthwise_backward_range, depthwise_backward_body,
               (const pynn_conv_shape *s, const float *x, const float *k, const float *dy,
                float *dk_part, float *dx, ptrdiff_t n0, ptrdiff_t n1),
               (s, x, k, dy, dk_part, dx, n0, n1))

/* The depthwise backward pass as a backward_share (its bias gradient is
 * taken separately). */
static int depthwise_share(const pynn_conv_shape *s, const backward_args *a, float *dk_part,
                           float *db_part, float *dx, ptrdiff_t n0, ptrdiff_t n1, int serial)
{
    (void)db_part, (void)serial;
    depthwise_backward_range(s, a->x, a->k, a->dy, dk_part, dx, n0, n1);
    return 0;
}

int pynn_depthwise_conv2d_backward(const pynn_conv_shape *s, const float *x, const float *k,
                                   const float *dy, float *dk, float *db, float *dx)
{
    PYNN_FTZ_SCOPE;
    if (!conv_shape_valid(s, 1))
        return PYNN_EINVAL;
    const ptrdiff_t cout = s->cin * s->cout;
    if (db)
        pynn_bias_grad(dy, db, s->n * s->oh * s->ow, cout);
    if (!dk && !dx)
        return 0;
    backward_args a = {x, k, PYNN_ACT_LINEAR, 0.0f, NULL, NULL, dy, NULL, NULL, NULL, NULL};
    int nt = pynn_threads_for(pynn_work(s->n * s->oh * s->ow * cout, s->kh * s->kw * 2));
    return over_samples(s, &a, depthwise_share, nt, s->kh * s->kw * cout, 0, dk, NULL, dx);
}
