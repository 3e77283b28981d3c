/*
 * plan.c - a model's inference pass as one call over a list of steps.
 *
 * Each step is the kernel call that pynn's Python inference path would make
 * for one layer (the same entry points with the same arguments, so the
 * results are the same bit for bit); what changes is who walks the list.
 * Operands are (buffer, offset) pairs resolved against the caller's table
 * at run time, so one plan serves any number of concurrent runs, each with
 * its own arena.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "pynn.h"

/* The floats an operand spans, per role, or -1 when a size product
 * overflows (or a size is negative). */
typedef struct {
    ptrdiff_t x, x2, w, b, y, stats;
} plan_extents;

static int conv_extents(const pynn_conv_shape *s, int depthwise, plan_extents *e)
{
    ptrdiff_t in[4] = {s->n, s->h, s->w, s->cin};
    ptrdiff_t k[4] = {s->kh, s->kw, s->cin, s->cout};
    ptrdiff_t channels, out[4];
    if (pynn_size_product(in, 4, &e->x) || pynn_size_product(k, 4, &e->w))
        return 1;
    if (depthwise) {
        if (pynn_mul_size(s->cin, s->cout, &channels))
            return 1;
    } else {
        channels = s->cout;
    }
    out[0] = s->n, out[1] = s->oh, out[2] = s->ow, out[3] = channels;
    e->b = channels;
    return pynn_size_product(out, 4, &e->y);
}

/* The floats that rows of cols values, ld apart, span. */
static int strided_span(ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t cols, ptrdiff_t *span)
{
    ptrdiff_t before;
    return pynn_mul_size(rows - 1, ld, &before) || __builtin_add_overflow(before, cols, span);
}

static int step_extents(const pynn_plan_step *st, plan_extents *e)
{
    ptrdiff_t values;
    memset(e, 0, sizeof *e);
    if (st->rows < 0 || st->inner < 0 || st->cols < 0 ||
        pynn_mul_size(st->rows, st->cols, &values))
        return 1;
    switch (st->kind) {
    case PYNN_PLAN_DENSE:
        e->b = st->cols;
        e->y = values;
        return pynn_mul_size(st->rows, st->inner, &e->x) ||
               pynn_mul_size(st->inner, st->cols, &e->w);
    case PYNN_PLAN_CONV2D:
    case PYNN_PLAN_DEPTHWISE:
        return conv_extents(&st->conv, st->kind == PYNN_PLAN_DEPTHWISE, e);
    case PYNN_PLAN_MAX_POOL:
    case PYNN_PLAN_AVG_POOL: {
        const pynn_pool_shape *s = &st->pool;
        ptrdiff_t in[4] = {s->n, s->h, s->w, s->c}, out[4] = {s->n, s->oh, s->ow, s->c};
        return pynn_size_product(in, 4, &e->x) || pynn_size_product(out, 4, &e->y);
    }
    case PYNN_PLAN_BINARY:
        e->x2 = values;
        /* fall through */
    case PYNN_PLAN_ACTIVATION:
    case PYNN_PLAN_RELU_GENERAL:
    case PYNN_PLAN_SCALE:
    case PYNN_PLAN_COPY:
        e->x = e->y = values;
        return 0;
    case PYNN_PLAN_BATCH_NORM:
    case PYNN_PLAN_STANDARDIZE:
        e->x = e->y = values;
        e->stats = st->cols;
        return pynn_mul_size(st->cols, 2, &e->w); /* scale, then shift */
    case PYNN_PLAN_AFFINE:
        e->b = st->cols;
        /* fall through */
    case PYNN_PLAN_PRELU:
        e->x = e->y = values;
        e->w = st->cols;
        return 0;
    case PYNN_PLAN_COPY_BLOCK:
        if (st->ldx < st->cols || st->ldy < st->cols)
            return 1;
        if (values == 0)
            return 0;
        return strided_span(st->rows, st->ldx, st->cols, &e->x) ||
               strided_span(st->rows, st->ldy, st->cols, &e->y);
    case PYNN_PLAN_PAD_CROP: {
        const pynn_shift_shape *s = &st->shift;
        ptrdiff_t in[5] = {s->n, s->d, s->h, s->w, s->c};
        ptrdiff_t out[5] = {s->n, s->od, s->oh, s->ow, s->c};
        return pynn_size_product(in, 5, &e->x) || pynn_size_product(out, 5, &e->y);
    }
    case PYNN_PLAN_BINARY_ROWS:
        if (st->group_x < 1 || st->group_x2 < 1)
            return 1;
        e->y = values;
        /* Whole rows of the inputs: ceil(rows / group) of them. */
        return pynn_mul_size(st->rows / st->group_x + (st->rows % st->group_x != 0),
                             st->cols, &e->x) ||
               pynn_mul_size(st->rows / st->group_x2 + (st->rows % st->group_x2 != 0),
                             st->cols, &e->x2);
    case PYNN_PLAN_FOLD: {
        ptrdiff_t extra;
        e->x = values;
        e->b = e->stats = st->cols;
        return pynn_mul_size(st->cols, 3, &extra) || __builtin_add_overflow(values, extra, &e->y);
    }
    default:
        return 1;
    }
}

/* Whether ref (spanning n floats) lies inside its buffer; a ref to no
 * buffer is fine where the operand is optional. */
static int ref_ok(pynn_plan_ref r, ptrdiff_t n, int optional, const ptrdiff_t *sizes, int nbufs)
{
    ptrdiff_t end;
    if (r.buf < 0)
        return optional || n == 0;
    return r.buf < nbufs && r.off >= 0 && !__builtin_add_overflow(r.off, n, &end) &&
           end <= sizes[r.buf];
}

static int overlaps(pynn_plan_ref a, ptrdiff_t na, pynn_plan_ref b, ptrdiff_t nb)
{
    return a.buf >= 0 && a.buf == b.buf && na > 0 && nb > 0 && a.off < b.off + nb &&
           b.off < a.off + na;
}

int pynn_plan_check(const pynn_plan_step *steps, ptrdiff_t count, const ptrdiff_t *sizes,
                    const unsigned char *writable, int nbufs)
{
    if (count < 0 || (count > 0 && steps == NULL) || nbufs < 0)
        return PYNN_EINVAL;
    for (int i = 0; i < nbufs; i++)
        if (sizes[i] < 0)
            return PYNN_EINVAL;
    for (ptrdiff_t i = 0; i < count; i++) {
        const pynn_plan_step *st = &steps[i];
        plan_extents e;
        if (step_extents(st, &e))
            return PYNN_EINVAL;
        /* Steps that write per-channel scale and shift into w first. */
        int scratch = st->kind == PYNN_PLAN_BATCH_NORM || st->kind == PYNN_PLAN_STANDARDIZE;
        int bn = scratch || st->kind == PYNN_PLAN_FOLD;
        int weighted = st->kind == PYNN_PLAN_DENSE || st->kind == PYNN_PLAN_CONV2D ||
                       st->kind == PYNN_PLAN_DEPTHWISE || st->kind == PYNN_PLAN_AFFINE ||
                       st->kind == PYNN_PLAN_PRELU;
        int binary = st->kind == PYNN_PLAN_BINARY || st->kind == PYNN_PLAN_BINARY_ROWS;
        if (!ref_ok(st->x, e.x, 0, sizes, nbufs) || st->y.buf < 0 ||
            !ref_ok(st->y, e.y, 0, sizes, nbufs) || !writable[st->y.buf] ||
            !ref_ok(st->x2, e.x2, !binary, sizes, nbufs) ||
            !ref_ok(st->w, e.w, !weighted && !bn, sizes, nbufs) ||
            !ref_ok(st->b, e.b, st->kind != PYNN_PLAN_AFFINE, sizes, nbufs) ||
            !ref_ok(st->mean, e.stats, !bn, sizes, nbufs) ||
            !ref_ok(st->var, e.stats, !bn, sizes, nbufs) ||
            !ref_ok(st->gamma, e.stats, 1, sizes, nbufs) ||
            !ref_ok(st->beta, e.stats, 1, sizes, nbufs))
            return PYNN_EINVAL;
        if (scratch && !writable[st->w.buf])
            return PYNN_EINVAL;
        /* No step writes over what it reads (the kernels assume it),
         * except that the elementwise kernels may write over their input
         * exactly (y == x, value for value). */
        int in_place = st->kind == PYNN_PLAN_ACTIVATION || st->kind == PYNN_PLAN_BINARY ||
                       st->kind == PYNN_PLAN_SCALE || st->kind == PYNN_PLAN_BATCH_NORM;
        pynn_plan_ref reads[8] = {st->x, st->x2, st->w, st->b,
                                  st->mean, st->var, st->gamma, st->beta};
        ptrdiff_t spans[8] = {e.x, e.x2, e.w, e.b, e.stats, e.stats, e.stats, e.stats};
        for (int r = 0; r < 8; r++) {
            int same = r < 2 && reads[r].buf == st->y.buf && reads[r].off == st->y.off &&
                       spans[r] == e.y;
            if (overlaps(st->y, e.y, reads[r], spans[r]) && !(in_place && same))
                return PYNN_EINVAL;
        }
        if (scratch)
            for (int r = 0; r < 8; r++)
                if (r != 2 && overlaps(st->w, e.w, reads[r], spans[r]))
                    return PYNN_EINVAL;
        if (scratch && overlaps(st->w, e.w, st->y, e.y))
            return PYNN_EINVAL;
    }
    return PYNN_OK;
}

static inline float *at(float *const *table, pynn_plan_ref r)
{
    return r.buf < 0 ? NULL : table[r.buf] + r.off;
}

/* Batch normalization's per-channel scale and shift, operation for
 * operation as pynn.ops.batch_norm_affine computes them in NumPy (the
 * inverse deviation in double, rounded once to float). */
static void bn_affine(const float *mean, const float *var, const float *gamma,
                      const float *beta, double eps, float *scale, float *shift, ptrdiff_t c)
{
    for (ptrdiff_t j = 0; j < c; j++) {
        float inv_std = (float)(1.0 / sqrt((double)var[j] + eps));
        float s = gamma != NULL ? inv_std * gamma[j] : inv_std;
        float t = -mean[j] * s;
        if (beta != NULL)
            t = t + beta[j];
        scale[j] = s;
        shift[j] = t;
    }
}

/* pynn.ops.fold_affine: kernel * scale over the output channels (the last
 * axis of a rows x cols kernel) and bias * scale + shift (a missing bias
 * is scale * 0, as there: a signed zero, NaN for an infinite scale). */
/* pynn.ops.standardize_affine: scale = 1 / max(sqrt(var), eps) and shift
 * = -mean * scale, in double and rounded once to float (inverse: scale =
 * the deviation, shift = the mean). */
static void standardize_affine(const float *mean, const float *var, int invert, double eps,
                               float *scale, float *shift, ptrdiff_t c)
{
    for (ptrdiff_t j = 0; j < c; j++) {
        double std = sqrt((double)var[j]);
        if (!(std >= eps) && !isnan(std))
            std = eps;
        if (invert) {
            scale[j] = (float)std;
            shift[j] = mean[j];
        } else {
            scale[j] = (float)(1.0 / std);
            shift[j] = (float)(-(double)mean[j] / std);
        }
    }
}

static void fold(const pynn_plan_step *st, float *const *table)
{
    ptrdiff_t rows = st->rows, c = st->cols;
    const float *k = at(table, st->x), *bias = at(table, st->b);
    float *out = at(table, st->y);
    float *kf = out, *bf = out + rows * c, *scale = bf + c, *shift = scale + c;
    bn_affine(at(table, st->mean), at(table, st->var), at(table, st->gamma),
              at(table, st->beta), st->eps, scale, shift, c);
    for (ptrdiff_t i = 0; i < rows; i++)
        for (ptrdiff_t j = 0; j < c; j++)
            kf[i * c + j] = k[i * c + j] * scale[j];
    for (ptrdiff_t j = 0; j < c; j++) {
        float b = bias != NULL ? bias[j] : scale[j] * 0.0f;
        float prod = b * scale[j];
        bf[j] = prod + shift[j];
    }
}

static int run_step(const pynn_plan_step *st, float *const *table)
{
    float *x = at(table, st->x), *y = at(table, st->y);
    ptrdiff_t values = st->rows * st->cols;
    switch (st->kind) {
    case PYNN_PLAN_DENSE: {
        const float *w = at(table, st->w), *b = at(table, st->b);
        if (st->rows == 0 || st->cols == 0)
            return PYNN_OK;
        pynn_sgemm(0, 0, st->rows, st->cols, st->inner, 1.0f, x, st->inner, w, st->cols,
                   0.0f, y, st->cols);
        if (st->act != PYNN_ACT_LINEAR || b != NULL)
            pynn_bias_activation_forward(st->act, st->alpha, y, b, y, st->rows, st->cols);
        return PYNN_OK;
    }
    case PYNN_PLAN_CONV2D:
    case PYNN_PLAN_DEPTHWISE: {
        const pynn_conv_shape *s = &st->conv;
        ptrdiff_t channels = st->kind == PYNN_PLAN_DEPTHWISE ? s->cin * s->cout : s->cout;
        if (s->n * s->oh * s->ow * channels == 0)
            return PYNN_OK;
        if (st->kind == PYNN_PLAN_DEPTHWISE)
            return pynn_depthwise_conv2d_forward(s, x, at(table, st->w), at(table, st->b),
                                                 st->act, st->alpha, y);
        return pynn_conv2d_forward(s, x, at(table, st->w), at(table, st->b), st->act,
                                   st->alpha, y);
    }
    case PYNN_PLAN_MAX_POOL:
        return pynn_max_pool2d_forward(&st->pool, x, y);
    case PYNN_PLAN_AVG_POOL:
        return pynn_avg_pool2d_forward(&st->pool, x, y);
    case PYNN_PLAN_ACTIVATION:
        if (values > 0)
            pynn_bias_activation_forward(st->act, st->alpha, x, NULL, y, st->rows, st->cols);
        return PYNN_OK;
    case PYNN_PLAN_RELU_GENERAL:
        pynn_relu_general_forward(x, y, values, st->p[0], st->p[1], st->p[2]);
        return PYNN_OK;
    case PYNN_PLAN_BINARY:
        pynn_binary(st->act, x, at(table, st->x2), y, values);
        return PYNN_OK;
    case PYNN_PLAN_SCALE:
        pynn_axpby(st->alpha, x, 0.0f, NULL, y, values);
        return PYNN_OK;
    case PYNN_PLAN_COPY:
        if (values > 0)
            memcpy(y, x, (size_t)values * sizeof(float));
        return PYNN_OK;
    case PYNN_PLAN_BATCH_NORM: {
        float *scale = at(table, st->w), *shift = scale + st->cols;
        bn_affine(at(table, st->mean), at(table, st->var), at(table, st->gamma),
                  at(table, st->beta), st->eps, scale, shift, st->cols);
        pynn_channel_affine(x, scale, shift, y, st->rows, st->cols);
        return PYNN_OK;
    }
    case PYNN_PLAN_FOLD:
        fold(st, table);
        return PYNN_OK;
    case PYNN_PLAN_COPY_BLOCK:
        pynn_copy_2d(x, st->ldx, y, st->ldy, st->rows, st->cols);
        return PYNN_OK;
    case PYNN_PLAN_PAD_CROP:
        pynn_pad_crop(&st->shift, x, y, st->alpha);
        return PYNN_OK;
    case PYNN_PLAN_BINARY_ROWS: {
        const float *x2 = at(table, st->x2);
        ptrdiff_t c = st->cols;
        for (ptrdiff_t r = 0; r < st->rows; r++)
            pynn_binary(st->act, x + r / st->group_x * c, x2 + r / st->group_x2 * c,
                        y + r * c, c);
        return PYNN_OK;
    }
    case PYNN_PLAN_AFFINE:
        if (values > 0)
            pynn_channel_affine(x, at(table, st->w), at(table, st->b), y, st->rows, st->cols);
        return PYNN_OK;
    case PYNN_PLAN_STANDARDIZE: {
        float *scale = at(table, st->w), *shift = scale + st->cols;
        standardize_affine(at(table, st->mean), at(table, st->var), st->act, st->eps, scale,
                           shift, st->cols);
        if (values > 0)
            pynn_channel_affine(x, scale, shift, y, st->rows, st->cols);
        return PYNN_OK;
    }
    case PYNN_PLAN_PRELU:
        if (values > 0)
            pynn_prelu_forward(x, at(table, st->w), y, st->rows, st->cols);
        return PYNN_OK;
    default:
        return PYNN_EINVAL;
    }
}

/* The multiply-adds of a plan's products, the least at which a run wakes
 * the team for its steps of moderate size (each of them alone would not
 * pay for a wake-up; together they do, the team staying awake from one
 * to the next, and into the next run of a stream of predicts).  The
 * MNIST convnet's one image (2.4 Mi) takes it, one sample through a
 * 784-128-128-10 MLP (0.1 Mi) not. */
#define PLAN_TEAM_MIN_WORK ((ptrdiff_t)1 << 20)

static ptrdiff_t step_work(const pynn_plan_step *st)
{
    switch (st->kind) {
    case PYNN_PLAN_DENSE:
        return pynn_work(pynn_work(st->rows, st->cols), st->inner);
    case PYNN_PLAN_CONV2D: {
        const pynn_conv_shape *s = &st->conv;
        ptrdiff_t pixels = pynn_work(pynn_work(s->n, s->oh), s->ow);
        return pynn_work(pynn_work(pixels, pynn_work(s->kh, s->kw)), pynn_work(s->cin, s->cout));
    }
    default:
        return 0;
    }
}

int pynn_plan_run(const pynn_plan_step *steps, ptrdiff_t count, float *const *table)
{
    ptrdiff_t work = 0;
    for (ptrdiff_t i = 0; i < count && work < PLAN_TEAM_MIN_WORK; i++)
        work += step_work(&steps[i]);
    pynn_team_want(work >= PLAN_TEAM_MIN_WORK);
    int err = PYNN_OK;
    for (ptrdiff_t i = 0; i < count && err == PYNN_OK; i++)
        err = run_step(&steps[i], table);
    pynn_team_want(0);
    return err;
}
