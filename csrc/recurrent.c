/*
 * recurrent.c - SimpleRNN, LSTM and GRU layers run through time, forward and
 * backward, and the embedding's gather and scatter-add.
 *
 * The work is shaped into GEMMs: each step multiplies its input and the
 * previous state, side by side with a one, by the kernel, recurrent kernel
 * and bias stacked ([x, h, 1] @ [W; R; b], one GEMM) and makes one
 * vectorized pass over the gates.  The backward pass walks the steps in
 * reverse, each with one vectorized pass and one GEMM for the state's and
 * the input's gradients (dZ [R^T, W^T]; GRU takes three), while the step's
 * gate gradients are in cache; the kernel, recurrent kernel and bias
 * gradients are then one GEMM over all the steps at once.
 *
 * Batch rows are independent through time, so one team of threads splits
 * the rows once and each thread runs its rows through every step alone:
 * no fork, join or barrier per step, whatever the number of steps.
 *
 * The work buffer (pynn_rnn_work_size floats) is time-major and in
 * processing order, so one step's rows are contiguous and the saved arrays
 * of all steps are the operands of the weight-gradient GEMM as they lie:
 *   xh  steps x batch x (input + units + 1)  each row [x, h, 1]: the step's
 *                                input (dropout mask applied), the state it
 *                                starts from (recurrent dropout mask
 *                                applied): the two products' left operands,
 *                                and a one, so that [x, h, 1]^T dZ is the
 *                                kernel, recurrent kernel and bias gradient
 *   p   steps x batch x G*units  the gates (post-activation); after the
 *                                backward pass their gradients
 *   h   (steps+1) x batch x units  the states, h[0] the initial one
 *   c   LSTM's carry states, as h
 *   s   steps x batch x units    LSTM: act(c); GRU with reset_after: the
 *                                recurrent candidate h @ R_h + b_h (its
 *                                gradient after the backward pass); GRU
 *                                without: r * h (the product's operand)
 *   q   LSTM, GRU: batch x G*units  one step's scratch
 *   t   batch x units            the recurrent product's gradient
 *   dh, dc  batch x units        the gradients carried back through time
 *   wb  (input + units + 1) x G*units: [W; R; b] stacked for the forward
 *                                product (GRU: see stack_weights); wbp the
 *                                same packed once for the GEMM's kernels
 *   rb  GRU with reset_after: (units + 1) x units, [R_h; b_rh]
 *   rwt G*units x (units + input)  [R^T, W^T] for the backward products,
 *                                transposed once per call; rwtp packed
 *   g   LSTM, SimpleRNN: batch x (units + input), one step's dZ [R^T, W^T]
 *   wg  (input + units + 1) x G*units: the weight gradients, stacked
 * In inference (training == 0) h and c keep two steps and s one, since no
 * backward pass will read them.
 */
#include "pynn.h"
#include "internal.h"

#include <string.h>

static int gates_of(int cell)
{
    return cell == PYNN_RNN_LSTM ? 4 : cell == PYNN_RNN_GRU ? 3 : 1;
}

static int act_supported(int act)
{
    return act == PYNN_ACT_LINEAR || act == PYNN_ACT_RELU || act == PYNN_ACT_SIGMOID ||
           act == PYNN_ACT_HARD_SIGMOID || act == PYNN_ACT_TANH;
}

typedef struct {
    ptrdiff_t B, T, I, U, GU;
    ptrdiff_t XW; /* row length of xh: input + units + 1 */
    int keep;     /* every step's states kept (training) */
    float *xh, *p, *h, *c, *s, *q, *t, *dh, *dc, *wb, *wbp, *rb, *rwt, *rwtp, *g, *wg;
} rnn_work;

/* Sizes rounded up to 16 floats keep every array 64-byte aligned (the
 * packed weights' loads need 32) from a base aligned so. */
static int add_array(ptrdiff_t *total, ptrdiff_t a, ptrdiff_t b, ptrdiff_t c)
{
    ptrdiff_t n;
    if (__builtin_mul_overflow(a, b, &n) || __builtin_mul_overflow(n, c, &n) ||
        __builtin_add_overflow(n, 15, &n))
        return -1;
    n &= ~(ptrdiff_t)15;
    return __builtin_add_overflow(*total, n, total) ? -1 : 0;
}

/* Lays the work buffer out (work may be NULL to count only); returns its
 * size in floats, or -1 for an invalid description or one whose buffer
 * would not be addressable. */
static ptrdiff_t layout(const pynn_rnn_desc *d, float *work, rnn_work *w)
{
    if (d->cell < PYNN_RNN_SIMPLE || d->cell > PYNN_RNN_GRU || d->batch < 0 ||
        d->steps < 1 || d->input < 1 || d->units < 1 || !act_supported(d->act) ||
        !act_supported(d->rec_act))
        return -1;
    const ptrdiff_t B = d->batch, T = d->steps, U = d->units;
    const int lstm = d->cell == PYNN_RNN_LSTM, gru = d->cell == PYNN_RNN_GRU;
    ptrdiff_t GU;
    if (__builtin_mul_overflow(U, (ptrdiff_t)gates_of(d->cell), &GU))
        return -1;
    ptrdiff_t states = d->training ? T + 1 : 2, saved = d->training ? T : 1;
    ptrdiff_t XW;
    if (__builtin_add_overflow(d->input, U, &XW) || __builtin_add_overflow(XW, 1, &XW))
        return -1;
    int gru_after = gru && d->reset_after;
    /* packed products, where the depth allows (0 otherwise) */
    ptrdiff_t wbp = (ptrdiff_t)pynn_gemm_packed_b_floats(XW, GU);
    ptrdiff_t rwtp = d->training && !gru ? (ptrdiff_t)pynn_gemm_packed_b_floats(GU, XW - 1) : 0;
    ptrdiff_t sizes[16][3] = {
        {T, B, XW},                      /* xh */
        {T, B, GU},                      /* p */
        {states, B, U},                  /* h */
        {lstm ? states : 0, B, U},       /* c */
        {lstm || gru ? saved : 0, B, U}, /* s */
        {lstm || gru, B, GU},            /* q */
        {d->training, B, U},             /* t */
        {d->training, B, U},             /* dh */
        {d->training && lstm, B, U},     /* dc */
        {1, XW, GU},                     /* wb */
        {1, 1, wbp},                     /* wbp */
        {gru_after, U + 1, U},           /* rb */
        {d->training, GU, XW - 1},       /* rwt */
        {1, 1, rwtp},                    /* rwtp */
        {d->training && !gru, B, XW - 1}, /* g */
        {d->training, XW, GU},           /* wg */
    };
    float **slots[16] = {&w->xh, &w->p,  &w->h,  &w->c,   &w->s,    &w->q, &w->t,  &w->dh,
                         &w->dc, &w->wb, &w->wbp, &w->rb, &w->rwt, &w->rwtp, &w->g, &w->wg};
    /* 16 floats of slack let the arrays start at the first 64-byte
     * boundary of whatever buffer the caller passes */
    float *base = work ? (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63) : NULL;
    ptrdiff_t total = 16;
    for (int i = 0; i < 16; i++) {
        /* an array this cell does not use stays NULL */
        int used = sizes[i][0] > 0 && sizes[i][1] > 0 && sizes[i][2] > 0;
        *slots[i] = base && used ? base + total - 16 : NULL;
        if (add_array(&total, sizes[i][0], sizes[i][1], sizes[i][2]) < 0)
            return -1;
    }
    if (total > PTRDIFF_MAX / (ptrdiff_t)sizeof(float))
        return -1;
    w->B = B;
    w->T = T;
    w->I = d->input;
    w->U = U;
    w->GU = GU;
    w->XW = XW;
    w->keep = d->training != 0;
    return total;
}

ptrdiff_t pynn_rnn_work_size(const pynn_rnn_desc *d)
{
    rnn_work w;
    return layout(d, NULL, &w);
}

/* The state slot before step s (after step s - 1). */
static inline float *state_at(const rnn_work *w, float *base, ptrdiff_t s)
{
    return base + (w->keep ? s : s & 1) * w->B * w->U;
}

static inline float *saved_at(const rnn_work *w, ptrdiff_t s)
{
    return w->s + (w->keep ? s : 0) * w->B * w->U;
}

/* ------------------------------------------------- activations in place */

/* v = act(v) over n floats: one loop per activation, so each vectorizes. */
static inline __attribute__((always_inline)) void act_span(int act, float *v, ptrdiff_t n)
{
    switch (act) {
    case PYNN_ACT_SIGMOID:
        for (ptrdiff_t j = 0; j < n; j++) v[j] = pynn_sigmoid_vec(v[j]);
        break;
    case PYNN_ACT_TANH:
        for (ptrdiff_t j = 0; j < n; j++) v[j] = pynn_tanh_vec(v[j]);
        break;
    case PYNN_ACT_RELU:
        for (ptrdiff_t j = 0; j < n; j++) v[j] = pynn_pick(pynn_mask_of(v[j] > 0.0f), v[j], 0.0f);
        break;
    case PYNN_ACT_HARD_SIGMOID: /* Keras 3: relu6(x + 3) / 6 */
        for (ptrdiff_t j = 0; j < n; j++) v[j] = fminf(fmaxf(v[j] / 6.0f + 0.5f, 0.0f), 1.0f);
        break;
    default: /* linear */
        break;
    }
}

/* out = g * act'(x) where y = act(x) is what the forward pass kept: every
 * supported activation's derivative is a function of its output.  out may
 * alias g or y. */
static inline __attribute__((always_inline)) void
mul_deriv(int act, const float *y, const float *g, float *out, ptrdiff_t n)
{
    switch (act) {
    case PYNN_ACT_SIGMOID:
        for (ptrdiff_t j = 0; j < n; j++) out[j] = g[j] * (y[j] * (1.0f - y[j]));
        break;
    case PYNN_ACT_TANH:
        for (ptrdiff_t j = 0; j < n; j++) out[j] = g[j] * (1.0f - y[j] * y[j]);
        break;
    case PYNN_ACT_RELU:
        for (ptrdiff_t j = 0; j < n; j++) out[j] = pynn_pick(pynn_mask_of(y[j] > 0.0f), g[j], 0.0f);
        break;
    case PYNN_ACT_HARD_SIGMOID:
        for (ptrdiff_t j = 0; j < n; j++)
            out[j] = pynn_pick(pynn_mask_of(y[j] > 0.0f) & pynn_mask_of(y[j] < 1.0f),
                               g[j] * (1.0f / 6.0f), 0.0f);
        break;
    default:
        if (out != g)
            for (ptrdiff_t j = 0; j < n; j++) out[j] = g[j];
    }
}

/* ------------------------------------------------------------ one step */

/* Everything one step's row passes read and write; row b of an array is at
 * base + b * (its row length) unless a stride is given. */
typedef struct {
    ptrdiff_t U;
    int act, rec_act, zero_masked;
    const float *rmask;        /* batch x units, or NULL */
    const uint8_t *mask;       /* this step's column of the batch x steps mask, or NULL */
    ptrdiff_t mask_stride;
    float *p, *q, *sv, *t;     /* the step's gates, scratch, saved row, product grad */
    const float *hp, *cp;      /* states before the step */
    float *hn, *cn;            /* states after it */
    float *y;                  /* the step's output rows, or NULL */
    ptrdiff_t y_stride;
    const float *dy;           /* the gradient of those outputs, or NULL */
    float *dh, *dc;            /* gradients carried back through time */
} step_io;

static inline int row_kept(const step_io *io, ptrdiff_t b)
{
    return !io->mask || io->mask[b * io->mask_stride];
}

/* A masked row carries its states over unchanged (and its gates, left as
 * they are, are never read: the backward pass gives them zero gradient). */
static inline void carry_row(const step_io *io, ptrdiff_t b)
{
    const ptrdiff_t U = io->U;
    memcpy(io->hn + b * U, io->hp + b * U, U * sizeof(float));
    if (io->cn)
        memcpy(io->cn + b * U, io->cp + b * U, U * sizeof(float));
}

/* The step's output: the new state, or zeros for a masked row when masked
 * steps output zeros (Bidirectional's sequences). */
static inline void emit_row(const step_io *io, ptrdiff_t b, int kept)
{
    if (!io->y)
        return;
    const ptrdiff_t U = io->U;
    float *y = io->y + b * io->y_stride;
    if (!kept && io->zero_masked)
        memset(y, 0, U * sizeof(float));
    else
        memcpy(y, io->hn + b * U, U * sizeof(float));
}

static inline __attribute__((always_inline)) void
simple_forward_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        int kept = row_kept(io, b);
        if (kept) {
            float *z = io->p + b * U, *hn = io->hn + b * U;
            act_span(io->act, z, U);
            memcpy(hn, z, U * sizeof(float));
        } else {
            carry_row(io, b);
        }
        emit_row(io, b, kept);
    }
}

/* p holds x W + h R + b; the gates replace it: i, f, act(z_c), o. */
static inline __attribute__((always_inline)) void
lstm_forward_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        int kept = row_kept(io, b);
        if (kept) {
            float *z = io->p + b * 4 * U, *ac = io->sv + b * U;
            const float *cp = io->cp + b * U;
            float *cn = io->cn + b * U, *hn = io->hn + b * U;
            act_span(io->rec_act, z, 2 * U);
            act_span(io->act, z + 2 * U, U);
            act_span(io->rec_act, z + 3 * U, U);
            for (ptrdiff_t j = 0; j < U; j++) {
                float c = z[U + j] * cp[j] + z[j] * z[2 * U + j];
                cn[j] = c;
                ac[j] = c;
            }
            act_span(io->act, ac, U);
            for (ptrdiff_t j = 0; j < U; j++) hn[j] = z[3 * U + j] * ac[j];
        } else {
            carry_row(io, b);
        }
        emit_row(io, b, kept);
    }
}

static inline __attribute__((always_inline)) void
gru_mix(const float *z, const float *hp, float *hn, ptrdiff_t U)
{
    /* h = z * h_prev + (1 - z) * candidate */
    for (ptrdiff_t j = 0; j < U; j++) hn[j] = z[j] * hp[j] + (1.0f - z[j]) * z[2 * U + j];
}

/* Reset gate after the product: p holds the z and r columns' x W + h R + b
 * and the candidate's x W_h + b_h, q the candidate's h R_h + b_rh; the
 * gates z, r and the candidate replace p, and the candidate's recurrent
 * term is saved for the backward pass. */
static inline __attribute__((always_inline)) void
gru_after_forward_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        int kept = row_kept(io, b);
        if (kept) {
            float *z = io->p + b * 3 * U, *rq = io->q + b * U, *rh = io->sv + b * U;
            act_span(io->rec_act, z, 2 * U);
            for (ptrdiff_t j = 0; j < U; j++) {
                rh[j] = rq[j];
                z[2 * U + j] += z[U + j] * rh[j];
            }
            act_span(io->act, z + 2 * U, U);
            gru_mix(z, io->hp + b * U, io->hn + b * U, U);
        } else {
            carry_row(io, b);
        }
        emit_row(io, b, kept);
    }
}

/* Reset gate before the product, first half: p holds x W + h R_zr + b in
 * its z and r columns; z and r replace them, and r * h (the candidate
 * product's operand, h with the recurrent dropout mask) is saved. */
static inline __attribute__((always_inline)) void
gru_before_gates_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        float *rh = io->sv + b * U;
        if (!row_kept(io, b)) {
            memset(rh, 0, U * sizeof(float));
            continue;
        }
        float *z = io->p + b * 3 * U;
        const float *hp = io->hp + b * U;
        act_span(io->rec_act, z, 2 * U);
        if (io->rmask) {
            const float *m = io->rmask + b * U;
            for (ptrdiff_t j = 0; j < U; j++) rh[j] = z[U + j] * (hp[j] * m[j]);
        } else {
            for (ptrdiff_t j = 0; j < U; j++) rh[j] = z[U + j] * hp[j];
        }
    }
}

/* Second half: p's candidate column now holds x W_h + b_h + (r * h) R_h. */
static inline __attribute__((always_inline)) void
gru_before_forward_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        int kept = row_kept(io, b);
        if (kept) {
            float *z = io->p + b * 3 * U;
            act_span(io->act, z + 2 * U, U);
            gru_mix(z, io->hp + b * U, io->hn + b * U, U);
        } else {
            /* the saved r * h row is already zero */
            memcpy(io->hn + b * U, io->hp + b * U, U * sizeof(float));
        }
        emit_row(io, b, kept);
    }
}

/* ------------------------------------------------------- backward rows */

/* dh += the gradient of the step's outputs; returns whether the row was
 * kept (a masked row's gates get a zero gradient and its carried
 * gradients pass through unchanged). */
static inline int take_output_grad(const step_io *io, ptrdiff_t b)
{
    const ptrdiff_t U = io->U;
    int kept = row_kept(io, b);
    if (io->dy && (kept || !io->zero_masked)) {
        const float *dy = io->dy + b * io->y_stride;
        float *dh = io->dh + b * U;
        for (ptrdiff_t j = 0; j < U; j++) dh[j] += dy[j];
    }
    return kept;
}

static inline __attribute__((always_inline)) void
simple_backward_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        float *dz = io->p + b * U, *dh = io->dh + b * U;
        if (!take_output_grad(io, b)) {
            memset(dz, 0, U * sizeof(float));
            continue;
        }
        mul_deriv(io->act, dz, dh, dz, U);
        memset(dh, 0, U * sizeof(float)); /* the recurrent product adds to it */
    }
}

static inline __attribute__((always_inline)) void
lstm_backward_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        float *g = io->p + b * 4 * U, *q = io->q + b * 4 * U;
        float *dh = io->dh + b * U, *dc = io->dc + b * U;
        if (!take_output_grad(io, b)) {
            memset(g, 0, 4 * U * sizeof(float));
            continue;
        }
        const float *ac = io->sv + b * U, *cp = io->cp + b * U;
        float *qc = q + 2 * U;
        /* dc += dh * o * act'(c) */
        for (ptrdiff_t j = 0; j < U; j++) qc[j] = dh[j] * g[3 * U + j];
        mul_deriv(io->act, ac, qc, qc, U);
        for (ptrdiff_t j = 0; j < U; j++) {
            float dct = dc[j] + qc[j];
            q[j] = dct * g[2 * U + j];       /* d i */
            q[U + j] = dct * cp[j];          /* d f */
            qc[j] = dct * g[j];              /* d act(z_c) */
            q[3 * U + j] = dh[j] * ac[j];    /* d o */
            dc[j] = dct * g[U + j];
            dh[j] = 0.0f; /* the recurrent product adds to it */
        }
        mul_deriv(io->rec_act, g, q, g, 2 * U);
        mul_deriv(io->act, g + 2 * U, q + 2 * U, g + 2 * U, U);
        mul_deriv(io->rec_act, g + 3 * U, q + 3 * U, g + 3 * U, U);
    }
}

/* The gradients of h = z * h_prev + (1 - z) * hh: dh_prev's direct part
 * into dh, dz (before the gate's derivative) into q, and the candidate's
 * pre-activation gradient into p's candidate column. */
static inline __attribute__((always_inline)) void
gru_mix_backward(const step_io *io, ptrdiff_t b, float *g, float *q)
{
    const ptrdiff_t U = io->U;
    const float *hp = io->hp + b * U;
    float *dh = io->dh + b * U;
    for (ptrdiff_t j = 0; j < U; j++) {
        float z = g[j];
        q[j] = dh[j] * (hp[j] - g[2 * U + j]);
        q[2 * U + j] = dh[j] * (1.0f - z);
        dh[j] *= z;
    }
    mul_deriv(io->act, g + 2 * U, q + 2 * U, g + 2 * U, U);
}

/* Reset gate after the product: p's z, r, candidate columns get the input
 * side's gradients; q gets the recurrent side's (its candidate column is
 * scaled by r), which the saved row also keeps for the weight gradient. */
static inline __attribute__((always_inline)) void
gru_after_backward_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        float *g = io->p + b * 3 * U, *q = io->q + b * 3 * U, *rh = io->sv + b * U;
        if (!take_output_grad(io, b)) {
            memset(g, 0, 3 * U * sizeof(float));
            memset(q, 0, 3 * U * sizeof(float));
            memset(rh, 0, U * sizeof(float));
            continue;
        }
        gru_mix_backward(io, b, g, q);
        for (ptrdiff_t j = 0; j < U; j++) {
            float dhh = g[2 * U + j];
            q[U + j] = dhh * rh[j];     /* dr */
            rh[j] = dhh * g[U + j];     /* d(h R_h + b_h) */
        }
        mul_deriv(io->rec_act, g, q, g, 2 * U);
        memcpy(q, g, 2 * U * sizeof(float));
        memcpy(q + 2 * U, rh, U * sizeof(float));
    }
}

/* Reset gate before the product, first half: up to the candidate's
 * pre-activation gradient, whose product with R_h^T is then the gradient
 * of r * h. */
static inline __attribute__((always_inline)) void
gru_before_backward1_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        float *g = io->p + b * 3 * U;
        if (!take_output_grad(io, b)) {
            memset(g, 0, 3 * U * sizeof(float));
            continue;
        }
        gru_mix_backward(io, b, g, io->q + b * 3 * U);
    }
}

/* Second half: t holds d(r * h); dr and the gates' gradients follow, and t
 * becomes the gradient of the masked h through r. */
static inline __attribute__((always_inline)) void
gru_before_backward2_body(const step_io *io, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = io->U;
    for (ptrdiff_t b = lo; b < hi; b++) {
        float *t = io->t + b * U;
        if (!row_kept(io, b)) {
            memset(t, 0, U * sizeof(float));
            continue;
        }
        float *g = io->p + b * 3 * U, *q = io->q + b * 3 * U;
        const float *hp = io->hp + b * U;
        if (io->rmask) {
            const float *m = io->rmask + b * U;
            for (ptrdiff_t j = 0; j < U; j++) q[U + j] = t[j] * (hp[j] * m[j]);
        } else {
            for (ptrdiff_t j = 0; j < U; j++) q[U + j] = t[j] * hp[j];
        }
        for (ptrdiff_t j = 0; j < U; j++) t[j] *= g[U + j];
        mul_deriv(io->rec_act, g, q, g, 2 * U);
    }
}

/* The row passes, compiled once per instruction set. */
#define ROWS_PER_LEVEL(NAME)                                                   \
    PYNN_PER_LEVEL(static, NAME, NAME##_body,                                  \
                   (const step_io *io, ptrdiff_t lo, ptrdiff_t hi), (io, lo, hi))
ROWS_PER_LEVEL(simple_forward)
ROWS_PER_LEVEL(lstm_forward)
ROWS_PER_LEVEL(gru_after_forward)
ROWS_PER_LEVEL(gru_before_gates)
ROWS_PER_LEVEL(gru_before_forward)
ROWS_PER_LEVEL(simple_backward)
ROWS_PER_LEVEL(lstm_backward)
ROWS_PER_LEVEL(gru_after_backward)
ROWS_PER_LEVEL(gru_before_backward1)
ROWS_PER_LEVEL(gru_before_backward2)

/* --------------------------------------------------------- time loops */

typedef struct {
    const pynn_rnn_desc *d;
    rnn_work w;
    const float *rec;
    const uint8_t *mask;
    const float *imask, *rmask;
    float *y;        /* forward: the output */
    const float *dy; /* backward: its gradient */
    float *dx;       /* backward: the input's gradient, or NULL */
} rnn_run;

/* The step's arrays for processing step s. */
static void step_arrays(const rnn_run *r, ptrdiff_t s, step_io *io, float *y, const float *dy)
{
    const pynn_rnn_desc *d = r->d;
    const rnn_work *w = &r->w;
    const ptrdiff_t B = w->B, T = w->T, U = w->U;
    ptrdiff_t t = d->go_backwards ? T - 1 - s : s; /* the input's time index */
    io->U = U;
    io->act = d->act;
    io->rec_act = d->rec_act;
    io->zero_masked = d->zero_masked_outputs;
    io->rmask = r->rmask;
    io->mask = r->mask ? r->mask + t : NULL;
    io->mask_stride = T;
    io->p = w->p + s * B * w->GU;
    io->q = w->q;
    io->t = w->t;
    io->sv = w->s ? saved_at(w, s) : NULL;
    io->hp = state_at(w, w->h, s);
    io->hn = state_at(w, w->h, s + 1);
    io->cp = w->c ? state_at(w, w->c, s) : NULL;
    io->cn = w->c ? state_at(w, w->c, s + 1) : NULL;
    /* outputs (and their gradients) are (batch, steps, units) in
     * processing order, or (batch, units) for the last step alone */
    io->y = NULL;
    io->dy = NULL;
    io->y_stride = d->return_sequences ? T * U : U;
    if (d->return_sequences) {
        io->y = y ? y + s * U : NULL;
        io->dy = dy ? dy + s * U : NULL;
    } else if (s == T - 1) {
        io->y = y;
        io->dy = dy;
    }
    io->dh = w->dh;
    io->dc = w->dc;
}

/* The recurrent product's left operand for step s, rows [lo, hi): the
 * state times the recurrent dropout mask, into xh[s]'s h columns. */
static void store_operand(const rnn_run *r, ptrdiff_t s, const float *h, ptrdiff_t lo,
                          ptrdiff_t hi)
{
    const ptrdiff_t U = r->w.U, XW = r->w.XW;
    float *dst = r->w.xh + s * r->w.B * XW + r->w.I;
    for (ptrdiff_t b = lo; b < hi; b++) {
        const float *hb = h + b * U;
        float *db = dst + b * XW;
        if (r->rmask) {
            const float *m = r->rmask + b * U;
            for (ptrdiff_t j = 0; j < U; j++) db[j] = hb[j] * m[j];
        } else {
            memcpy(db, hb, U * sizeof(float));
        }
    }
}

static void forward_rows(const rnn_run *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const pynn_rnn_desc *d = r->d;
    const ptrdiff_t B = r->w.B, T = r->w.T, U = r->w.U, GU = r->w.GU, XW = r->w.XW;
    const ptrdiff_t m = hi - lo;
    store_operand(r, 0, r->w.h, lo, hi);
    for (ptrdiff_t s = 0; s < T; s++) {
        step_io io;
        step_arrays(r, s, &io, r->y, NULL);
        /* [x, h, 1] @ [W; R; b] */
        const float *a = r->w.xh + (s * B + lo) * XW;
        float *p = io.p + lo * GU;
        pynn_sgemm_packed_b_serial(m, GU, XW, a, XW, r->w.wb, GU, r->w.wbp, 0.0f, p, GU);
        switch (d->cell) {
        case PYNN_RNN_SIMPLE:
            simple_forward(&io, lo, hi);
            break;
        case PYNN_RNN_LSTM:
            lstm_forward(&io, lo, hi);
            break;
        default:
            if (d->reset_after) {
                /* the candidate's recurrent term: [h, 1] @ [R_h; b_rh] */
                pynn_sgemm_serial(0, 0, m, U, U + 1, 1.0f, a + r->w.I, XW, r->w.rb, U, 0.0f,
                                  io.q + lo * U, U);
                gru_after_forward(&io, lo, hi);
            } else {
                gru_before_gates(&io, lo, hi);
                pynn_sgemm_serial(0, 0, m, U, U, 1.0f, io.sv + lo * U, U, r->rec + 2 * U, GU,
                                  1.0f, p + 2 * U, GU);
                gru_before_forward(&io, lo, hi);
            }
        }
        if (s + 1 < T)
            store_operand(r, s + 1, io.hn, lo, hi);
    }
}

/* dh[rows] += t[rows] * recurrent dropout mask. */
static void add_masked(const rnn_run *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t U = r->w.U;
    float *dh = r->w.dh;
    const float *t = r->w.t;
    for (ptrdiff_t i = lo * U; i < hi * U; i++) dh[i] += t[i] * r->rmask[i];
}

/* dh[rows] += a[rows] @ op, through the recurrent dropout mask: a is
 * m x k (row stride lda), op k x U (rows of R^T in rwt). */
static void add_recurrent_grad(const rnn_run *r, ptrdiff_t lo, ptrdiff_t hi, const float *a,
                               ptrdiff_t lda, ptrdiff_t k, const float *op)
{
    const ptrdiff_t U = r->w.U, UI = r->w.XW - 1;
    if (r->rmask) {
        pynn_sgemm_serial(0, 0, hi - lo, U, k, 1.0f, a + lo * lda, lda, op, UI, 0.0f,
                          r->w.t + lo * U, U);
        add_masked(r, lo, hi);
    } else {
        pynn_sgemm_serial(0, 0, hi - lo, U, k, 1.0f, a + lo * lda, lda, op, UI, 1.0f,
                          r->w.dh + lo * U, U);
    }
}

/* dx[rows, t] = dZ[rows] @ W^T * input dropout mask: the input's gradient
 * for processing step s, while the step's gate gradients are in cache. */
static void input_grad(const rnn_run *r, ptrdiff_t s, ptrdiff_t lo, ptrdiff_t hi)
{
    const rnn_work *w = &r->w;
    const ptrdiff_t T = w->T, I = w->I, U = w->U, GU = w->GU;
    ptrdiff_t t = r->d->go_backwards ? T - 1 - s : s;
    pynn_sgemm_serial(0, 0, hi - lo, I, GU, 1.0f, w->p + (s * w->B + lo) * GU, GU, w->rwt + U,
                      U + I, 0.0f, r->dx + (lo * T + t) * I, T * I);
    if (r->imask)
        for (ptrdiff_t b = lo; b < hi; b++) {
            float *row = r->dx + (b * T + t) * I;
            const float *m = r->imask + b * I;
            for (ptrdiff_t j = 0; j < I; j++) row[j] *= m[j];
        }
}

/* Both for LSTM and SimpleRNN, whose state and input gradients read the
 * same dZ: one product dZ [R^T, W^T] into g, then dh += its first units
 * columns (through the recurrent dropout mask) and dx[rows, t] = the rest
 * (through the input's). */
static void state_and_input_grad(const rnn_run *r, ptrdiff_t s, ptrdiff_t lo, ptrdiff_t hi)
{
    const rnn_work *w = &r->w;
    const ptrdiff_t T = w->T, I = w->I, U = w->U, GU = w->GU, UI = U + I;
    ptrdiff_t t = r->d->go_backwards ? T - 1 - s : s;
    pynn_sgemm_packed_b_serial(hi - lo, r->dx ? UI : U, GU, w->p + (s * w->B + lo) * GU, GU,
                               w->rwt, UI, w->rwtp, 0.0f, w->g + lo * UI, UI);
    for (ptrdiff_t b = lo; b < hi; b++) {
        const float *gh = w->g + b * UI, *gx = gh + U;
        float *dh = w->dh + b * U;
        if (r->rmask) {
            const float *m = r->rmask + b * U;
            for (ptrdiff_t j = 0; j < U; j++) dh[j] += gh[j] * m[j];
        } else {
            for (ptrdiff_t j = 0; j < U; j++) dh[j] += gh[j];
        }
        if (!r->dx)
            continue;
        float *dx = r->dx + (b * T + t) * I;
        if (r->imask) {
            const float *m = r->imask + b * I;
            for (ptrdiff_t j = 0; j < I; j++) dx[j] = gx[j] * m[j];
        } else {
            for (ptrdiff_t j = 0; j < I; j++) dx[j] = gx[j];
        }
    }
}

static void backward_rows(const rnn_run *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const pynn_rnn_desc *d = r->d;
    const ptrdiff_t T = r->w.T, U = r->w.U, GU = r->w.GU, UI = r->w.XW - 1, m = hi - lo;
    const float *Rt = r->w.rwt;
    for (ptrdiff_t s = T - 1; s >= 0; s--) {
        step_io io;
        step_arrays(r, s, &io, NULL, r->dy);
        switch (d->cell) {
        case PYNN_RNN_SIMPLE:
            simple_backward(&io, lo, hi);
            state_and_input_grad(r, s, lo, hi);
            continue;
        case PYNN_RNN_LSTM:
            lstm_backward(&io, lo, hi);
            state_and_input_grad(r, s, lo, hi);
            continue;
        default:
            if (d->reset_after) {
                gru_after_backward(&io, lo, hi);
                add_recurrent_grad(r, lo, hi, io.q, GU, GU, Rt);
            } else {
                gru_before_backward1(&io, lo, hi);
                /* t = d(candidate) @ R_h^T, the gradient of r * h */
                pynn_sgemm_serial(0, 0, m, U, U, 1.0f, io.p + lo * GU + 2 * U, GU,
                                  Rt + 2 * U * UI, UI, 0.0f, io.t + lo * U, U);
                gru_before_backward2(&io, lo, hi);
                /* t += (dz, dr) @ R_zr^T: the masked h's whole gradient */
                pynn_sgemm_serial(0, 0, m, U, 2 * U, 1.0f, io.p + lo * GU, GU, Rt, UI, 1.0f,
                                  io.t + lo * U, U);
                if (r->rmask) {
                    add_masked(r, lo, hi);
                } else {
                    for (ptrdiff_t i = lo * U; i < hi * U; i++) r->w.dh[i] += r->w.t[i];
                }
            }
        }
        if (r->dx)
            input_grad(r, s, lo, hi);
    }
}

/* Threads for the time loops: each needs rows enough to keep the per-step
 * products efficient, and the whole run must be worth a team. */
static int time_threads(const rnn_work *w)
{
    double work = (double)w->B * (double)w->GU * (double)w->U * (double)w->T;
    int nt = pynn_threads_for(work > 1e15 ? (ptrdiff_t)1e15 : (ptrdiff_t)work / 8);
    ptrdiff_t most = w->B / 4 > 1 ? w->B / 4 : 1;
    return most < nt ? (int)most : nt;
}

/* Runs fn over the batch rows, split across the team once for the whole
 * time loop. */
static void run_rows(void (*fn)(const rnn_run *, ptrdiff_t, ptrdiff_t), const rnn_run *r)
{
    int nt = time_threads(&r->w);
    PYNN_PARALLEL_SHARES(nt, r->w.B, fn(r, lo, hi));
}

/* xh[s]'s x columns = x[:, t] * input mask, t the time index of
 * processing step s, and its last column 1. */
static void gather_input(const rnn_run *r, const float *x, ptrdiff_t s0, ptrdiff_t s1)
{
    const rnn_work *w = &r->w;
    const ptrdiff_t B = w->B, T = w->T, I = w->I, XW = w->XW;
    for (ptrdiff_t s = s0; s < s1; s++) {
        ptrdiff_t t = r->d->go_backwards ? T - 1 - s : s;
        for (ptrdiff_t b = 0; b < B; b++) {
            const float *src = x + (b * T + t) * I;
            float *dst = w->xh + (s * B + b) * XW;
            if (r->imask) {
                const float *m = r->imask + b * I;
                for (ptrdiff_t j = 0; j < I; j++) dst[j] = src[j] * m[j];
            } else {
                memcpy(dst, src, I * sizeof(float));
            }
            dst[XW - 1] = 1.0f;
        }
    }
}

/* dst (cols x rows, row stride ldd) = src^T (src rows x cols). */
static void transpose(const float *src, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ldd,
                      float *dst)
{
    for (ptrdiff_t i = 0; i < rows; i++)
        for (ptrdiff_t j = 0; j < cols; j++) dst[j * ldd + i] = src[i * cols + j];
}

/* wb = [W; R; b], the forward product's right operand (b zero without a
 * bias).  GRU's candidate columns take only x W_h + b_h from it (R_h
 * enters on its own: after the reset gate), so its R rows there are zero
 * and, with reset_after, the z and r columns' bias is the sum of the input
 * and recurrent biases, and rb = [R_h; b_rh]. */
static void stack_weights(const pynn_rnn_desc *d, rnn_work *w, const float *kernel,
                          const float *rec, const float *bias)
{
    const ptrdiff_t I = w->I, U = w->U, GU = w->GU;
    int gru = d->cell == PYNN_RNN_GRU;
    memcpy(w->wb, kernel, I * GU * sizeof(float));
    float *wr = w->wb + I * GU, *wbias = w->wb + (I + U) * GU;
    for (ptrdiff_t i = 0; i < U; i++) {
        memcpy(wr + i * GU, rec + i * GU, (gru ? 2 * U : GU) * sizeof(float));
        if (gru)
            memset(wr + i * GU + 2 * U, 0, U * sizeof(float));
    }
    if (bias)
        memcpy(wbias, bias, GU * sizeof(float));
    else
        memset(wbias, 0, GU * sizeof(float));
    if (gru && d->reset_after) {
        for (ptrdiff_t i = 0; i < U; i++)
            memcpy(w->rb + i * U, rec + i * GU + 2 * U, U * sizeof(float));
        float *rbias = w->rb + U * U;
        if (bias) {
            for (ptrdiff_t j = 0; j < 2 * U; j++) wbias[j] += bias[GU + j];
            memcpy(rbias, bias + GU + 2 * U, U * sizeof(float));
        } else {
            memset(rbias, 0, U * sizeof(float));
        }
    }
}

static void init_state(float *dst, const float *src, ptrdiff_t n)
{
    if (src)
        memcpy(dst, src, n * sizeof(float));
    else
        memset(dst, 0, n * sizeof(float));
}

int pynn_rnn_forward(const pynn_rnn_desc *d, const float *x, const float *kernel,
                     const float *rec, const float *bias, const uint8_t *mask,
                     const float *input_mask, const float *rec_mask, const float *h0,
                     const float *c0, float *y, float *h_out, float *c_out, float *work)
{
    PYNN_FTZ_SCOPE;
    rnn_run r = {d, {0}, rec, mask, input_mask, rec_mask, y, NULL, NULL};
    if (layout(d, work, &r.w) < 0)
        return -1;
    const ptrdiff_t B = r.w.B, T = r.w.T, U = r.w.U;
    if (B == 0)
        return 0;
    int nt = pynn_threads_for(B * T * r.w.I);
    PYNN_PARALLEL_RANGE(nt, T, gather_input(&r, x, lo, hi));
    stack_weights(d, &r.w, kernel, rec, bias);
    if (r.w.wbp)
        pynn_gemm_pack_b(r.w.XW, r.w.GU, r.w.wb, r.w.GU, r.w.wbp);
    init_state(r.w.h, h0, B * U);
    if (r.w.c)
        init_state(r.w.c, c0, B * U);
    run_rows(forward_rows, &r);
    memcpy(h_out, state_at(&r.w, r.w.h, T), B * U * sizeof(float));
    if (r.w.c && c_out)
        memcpy(c_out, state_at(&r.w, r.w.c, T), B * U * sizeof(float));
    return 0;
}

int pynn_rnn_backward(const pynn_rnn_desc *d, const float *kernel, const float *rec,
                      const uint8_t *mask, const float *input_mask, const float *rec_mask,
                      const float *dy, const float *dh_last, const float *dc_last,
                      float *work, float *dx, float *dh0, float *dc0, float *dkernel,
                      float *drec, float *dbias)
{
    PYNN_FTZ_SCOPE;
    rnn_run r = {d, {0}, rec, mask, input_mask, rec_mask, NULL, dy, dx};
    if (!d->training || layout(d, work, &r.w) < 0)
        return -1;
    rnn_work *w = &r.w;
    const ptrdiff_t B = w->B, I = w->I, U = w->U, GU = w->GU, XW = w->XW, n = w->T * B;
    int lstm = d->cell == PYNN_RNN_LSTM, gru = d->cell == PYNN_RNN_GRU;
    if (B == 0) {
        memset(dkernel, 0, I * GU * sizeof(float));
        memset(drec, 0, U * GU * sizeof(float));
        if (dbias)
            memset(dbias, 0, (gru && d->reset_after ? 2 : 1) * GU * sizeof(float));
        return 0;
    }
    transpose(rec, U, GU, U + I, w->rwt);
    transpose(kernel, I, GU, U + I, w->rwt + U);
    if (w->rwtp)
        pynn_gemm_pack_b(GU, U + I, w->rwt, U + I, w->rwtp);
    init_state(w->dh, dh_last, B * U);
    if (lstm)
        init_state(w->dc, dc_last, B * U);
    run_rows(backward_rows, &r);
    if (dh0)
        memcpy(dh0, w->dh, B * U * sizeof(float));
    if (lstm && dc0)
        memcpy(dc0, w->dc, B * U * sizeof(float));

    /* [x, h, 1]^T dZ over all steps: the kernel, recurrent kernel and bias
     * gradients stacked, p holding the gates' input-side gradients. */
    pynn_sgemm(1, 0, XW, GU, n, 1.0f, w->xh, XW, w->p, GU, 0.0f, w->wg, GU);
    memcpy(dkernel, w->wg, I * GU * sizeof(float));
    const float *db = w->wg + (I + U) * GU;
    if (dbias) /* GRU with reset_after: the input bias */
        memcpy(dbias, db, GU * sizeof(float));
    if (gru) {
        /* The candidate's recurrent columns have another left operand or
         * gradient, s (see the work layout); they overwrite what the
         * product above left there. */
        if (d->reset_after) /* [h, 1]^T s: its recurrent kernel and bias */
            pynn_sgemm(1, 0, U + 1, U, n, 1.0f, w->xh + I, XW, w->s, U, 0.0f,
                       w->wg + I * GU + 2 * U, GU);
        else /* (r * h)^T dZ_h */
            pynn_sgemm(1, 0, U, U, n, 1.0f, w->s, U, w->p + 2 * U, GU, 0.0f,
                       w->wg + I * GU + 2 * U, GU);
    }
    memcpy(drec, w->wg + I * GU, U * GU * sizeof(float));
    if (dbias && gru && d->reset_after) /* the recurrent bias */
        memcpy(dbias + GU, db, GU * sizeof(float));
    return 0;
}

/* ------------------------------------------------------------ embedding */

static inline int64_t id_at(const void *ids, int wide, ptrdiff_t i)
{
    return wide ? ((const int64_t *)ids)[i] : ((const int32_t *)ids)[i];
}

/* The number of ids outside [0, vocab), the smallest and largest of them
 * into *lo and *hi.  A first pass takes the extremes of all the ids (a
 * reduction that vectorizes); only a bad batch pays for the counting. */
static ptrdiff_t bad_ids(const void *ids, int wide, ptrdiff_t n, ptrdiff_t vocab, int64_t *lo,
                         int64_t *hi)
{
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    if (wide) {
        const int64_t *v = ids;
        for (ptrdiff_t i = 0; i < n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
    } else {
        const int32_t *v = ids;
        int32_t a = INT32_MAX, b = INT32_MIN;
        for (ptrdiff_t i = 0; i < n; i++) {
            a = v[i] < a ? v[i] : a;
            b = v[i] > b ? v[i] : b;
        }
        mn = a;
        mx = b;
    }
    if (n == 0 || (mn >= 0 && mx < vocab))
        return 0;
    ptrdiff_t bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        int64_t v = id_at(ids, wide, i);
        if (v < 0 || v >= vocab) {
            if (bad == 0 || v < *lo)
                *lo = v;
            if (bad == 0 || v > *hi)
                *hi = v;
            bad++;
        }
    }
    return bad;
}

static void gather_range(const float *table, ptrdiff_t dim, const void *ids, int wide,
                         float *out, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++)
        memcpy(out + i * dim, table + id_at(ids, wide, i) * dim, dim * sizeof(float));
}

ptrdiff_t pynn_embedding_gather(const float *table, ptrdiff_t vocab, ptrdiff_t dim,
                                const void *ids, int ids_wide, ptrdiff_t n, float *out,
                                int64_t *bad_lo, int64_t *bad_hi)
{
    if (vocab < 0 || dim < 0 || n < 0)
        return -1;
    ptrdiff_t bad = bad_ids(ids, ids_wide, n, vocab, bad_lo, bad_hi);
    if (bad || dim == 0)
        return bad;
    int nt = pynn_threads_for(n * dim);
    PYNN_PARALLEL_RANGE(nt, n, gather_range(table, dim, ids, ids_wide, out, lo, hi));
    return 0;
}

/* The rows [r0, r1) of the gradient: zeroed where any id names them, then
 * dy added.  Each thread owns a range of rows, so repeated ids never race
 * and each row sums its ids in their order, whatever the thread count. */
static void scatter_rows(const void *ids, int wide, ptrdiff_t n, const float *dy,
                         const void *prev, int prev_wide, ptrdiff_t n_prev, float *grad,
                         ptrdiff_t dim, int64_t r0, int64_t r1)
{
    for (ptrdiff_t i = 0; i < n_prev; i++) {
        int64_t v = id_at(prev, prev_wide, i);
        if (v >= r0 && v < r1)
            memset(grad + v * dim, 0, dim * sizeof(float));
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        int64_t v = id_at(ids, wide, i);
        if (v >= r0 && v < r1)
            memset(grad + v * dim, 0, dim * sizeof(float));
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        int64_t v = id_at(ids, wide, i);
        if (v >= r0 && v < r1) {
            float *g = grad + v * dim;
            const float *d = dy + i * dim;
            for (ptrdiff_t j = 0; j < dim; j++) g[j] += d[j];
        }
    }
}

ptrdiff_t pynn_embedding_scatter_add(const void *ids, int ids_wide, ptrdiff_t n,
                                     const float *dy, const void *prev_ids, int prev_wide,
                                     ptrdiff_t n_prev, float *grad, ptrdiff_t vocab,
                                     ptrdiff_t dim, int64_t *bad_lo, int64_t *bad_hi)
{
    PYNN_FTZ_SCOPE;
    if (vocab < 0 || dim < 0 || n < 0 || n_prev < 0 || (n_prev > 0 && !prev_ids))
        return -1;
    int64_t lo2 = 0, hi2 = 0;
    ptrdiff_t bad = bad_ids(ids, ids_wide, n, vocab, bad_lo, bad_hi);
    ptrdiff_t bad2 = n_prev ? bad_ids(prev_ids, prev_wide, n_prev, vocab, &lo2, &hi2) : 0;
    if (bad2) {
        *bad_lo = bad && *bad_lo < lo2 ? *bad_lo : lo2;
        *bad_hi = bad && *bad_hi > hi2 ? *bad_hi : hi2;
    }
    if (bad || bad2 || dim == 0)
        return bad + bad2;
    int nt = pynn_threads_for((n + n_prev) * dim);
    if (nt > vocab)
        nt = vocab > 0 ? (int)vocab : 1;
    PYNN_PARALLEL_RANGE(nt, vocab, scatter_rows(ids, ids_wide, n, dy, prev_ids, prev_wide,
                                                 n_prev, grad, dim, lo, hi));
    return 0;
}
