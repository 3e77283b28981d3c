/*
 * pynn.h - the whole C API of pynn's kernels.
 *
 * Conventions: float32, row-major, NHWC for images, HWIO for conv kernels.
 * Sizes are ptrdiff_t. Callers (the Cython bridge) validate every shape,
 * dtype and contiguity before calling.  The kernels still refuse what
 * would make them divide by zero, overflow a size product or read outside
 * a window (returning PYNN_EINVAL), and treat zero sizes as empty work.
 * No function here touches a Python object or allocates on the hot path
 * beyond the packing buffers the GEMM keeps per thread.
 */
#ifndef PYNN_H
#define PYNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the kernels that can fail return. */
enum pynn_status {
    PYNN_OK = 0,
    PYNN_ENOMEM = -1, /* a work buffer could not be allocated */
    PYNN_EINVAL = -2  /* a shape the kernel cannot run: negative or zero where it
                       * divides, a size product that overflows, an empty window */
};

/* ---------------------------------------------------------------- cpu.c */

enum pynn_cpu_level {
    PYNN_CPU_GENERIC = 0, /* portable C, baseline x86-64 */
    PYNN_CPU_AVX2 = 1,    /* AVX2 + FMA */
    PYNN_CPU_AVX512 = 2   /* AVX-512F (and AVX2 + FMA) */
};
/* Reads PYNN_CPU ("generic" or "avx2" caps the kernels at that level) and
 * the CPU's features once; safe to call more than once. */
void pynn_cpu_init(void);
/* The instruction-set level of the kernels in use. */
int pynn_cpu_level(void);
/* "avx512f", "avx2+fma" or "generic". */
const char *pynn_cpu_simd_level(void);
int pynn_get_num_threads(void);
void pynn_set_num_threads(int n);
/* Nonzero when the extension was compiled with OpenMP. */
int pynn_have_openmp(void);

/* --------------------------------------------------------------- gemm.c */

/* C = alpha * op(A) * op(B) + beta * C, row-major.
 * op(A) is m x k: A is m x k (lda >= k) or, when trans_a, k x m (lda >= m).
 * op(B) is k x n: B is k x n (ldb >= n) or, when trans_b, n x k (ldb >= k).
 * beta == 0 overwrites C without reading it (NaNs in C do not leak). */
void pynn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                float alpha, const float *a, ptrdiff_t lda,
                const float *b, ptrdiff_t ldb,
                float beta, float *c, ptrdiff_t ldc);

/* count products C_i = alpha * op(A_i) * op(B_i) + beta * C_i, the i-th
 * operands stride_a, stride_b, stride_c floats after the first (a batched
 * matmul, as the Dot layer's). */
void pynn_sgemm_batched(ptrdiff_t count, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                        ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                        ptrdiff_t stride_a, const float *b, ptrdiff_t ldb, ptrdiff_t stride_b,
                        float beta, float *c, ptrdiff_t ldc, ptrdiff_t stride_c);

/* --------------------------------------------------------------- conv.c */

/* The geometry of a 2-D convolution (a 1-D one has h = kh = 1).
 * Input n x h x w x cin (NHWC); kernel kh x kw x cin x cout (HWIO; for the
 * depthwise convolution cout is the depth multiplier and the output has
 * cin * cout channels, channel c * cout + m from input channel c); output
 * n x oh x ow x cout.  Output pixel (oy, ox) reads input rows
 * oy * sh - pad_top + ky * dh and columns ox * sw - pad_left + kx * dw;
 * reads outside the input are zeros. */
typedef struct {
    ptrdiff_t n, h, w, cin;
    ptrdiff_t kh, kw, cout;
    ptrdiff_t sh, sw, dh, dw;
    ptrdiff_t pad_top, pad_left;
    ptrdiff_t oh, ow;
} pynn_conv_shape;

/* y = act(conv(x, k) + bias); bias (cout) may be NULL.  Returns PYNN_OK,
 * PYNN_ENOMEM when a work buffer cannot be allocated (y is then
 * unspecified) or PYNN_EINVAL for a geometry that cannot run (strides or
 * dilations < 1, negative sizes or padding, kernels of size 0, size
 * products that overflow).  Zero samples, channels or output pixels are
 * valid: zero input channels give act(bias). */
int pynn_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                        const float *bias, int act, float alpha, float *y);
/* From dy, the gradient of the layer's output y = act(pre): dk = dL/dk,
 * db = dL/dbias, dx = dL/dx, each skipped when NULL.  The activation's
 * derivative is applied on the way, one group of rows at a time while they
 * are in cache; it reads y, and pre for the activations whose derivative
 * needs it (pre may be NULL otherwise; y and pre are unused for
 * PYNN_ACT_LINEAR).  Returns 0 or -1 as above. */
int pynn_conv2d_backward(const pynn_conv_shape *s, const float *x, const float *k,
                         int act, float alpha, const float *pre, const float *y,
                         const float *dy, float *dk, float *db, float *dx);
int pynn_depthwise_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                                  const float *bias, int act, float alpha, float *y);
/* As pynn_conv2d_backward without the activation: dy is the gradient of
 * the depthwise convolution's own output. */
int pynn_depthwise_conv2d_backward(const pynn_conv_shape *s, const float *x, const float *k,
                                   const float *dy, float *dk, float *db, float *dx);

/* --------------------------------------------------------------- pool.c */

/* Pooling windows of ph x pw with strides sh, sw over n x h x w x c; output
 * pixel (oy, ox) covers rows oy * sh - pad_top + [0, ph) clipped to the
 * input (the padding is never part of a window), likewise for columns.
 * Global pooling is the window h x w with one output pixel. */
typedef struct {
    ptrdiff_t n, h, w, c;
    ptrdiff_t ph, pw, sh, sw;
    ptrdiff_t pad_top, pad_left;
    ptrdiff_t oh, ow;
} pynn_pool_shape;

/* y = the window's maximum (the first in scan order on ties).  The pooling
 * kernels return PYNN_OK, PYNN_ENOMEM, or PYNN_EINVAL for a shape with a
 * window of no input pixel in it (padding >= the window, an output pixel
 * past the input), a stride or window < 1, or an overflowing size. */
int pynn_max_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y);
/* dx = dy routed to each window's maximum, found again from the forward
 * pass's input x and output y (dx is overwritten). */
int pynn_max_pool2d_backward(const pynn_pool_shape *s, const float *x, const float *y,
                             const float *dy, float *dx);
/* y = the mean over the window's pixels inside the input. */
int pynn_avg_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y);
int pynn_avg_pool2d_backward(const pynn_pool_shape *s, const float *dy, float *dx);

/* dk and db (either may be NULL) of the convolution y = act(conv(x, k) +
 * bias) whose only reader is the max pooling p (input y, output pool_y),
 * from pool_dy, the gradient of the pooling's output: the pooling's
 * backward pass and then the convolution's (conv.c), without the pooling's
 * input gradient written out; the same values.  Taken where
 * pynn_conv2d_pooled_backward_fits says (a patch of at most 12 values,
 * ReLU or linear, pooling windows that do not overlap, an x86 CPU with
 * AVX2); PYNN_EINVAL elsewhere. */
int pynn_conv2d_pooled_backward_fits(const pynn_conv_shape *s, const pynn_pool_shape *p,
                                     int act);
int pynn_conv2d_pooled_backward(const pynn_conv_shape *s, const pynn_pool_shape *p,
                                const float *x, int act, const float *y, const float *pool_y,
                                const float *pool_dy, float *dk, float *db);

/* ------------------------------------------------------- normalization.c */

/* mean and (biased) variance of each column of a rows x cols matrix. */
void pynn_moments(const float *x, ptrdiff_t rows, ptrdiff_t cols, float *mean, float *var);
/* y = x * scale + shift, per column; y may alias x. */
void pynn_channel_affine(const float *x, const float *scale, const float *shift, float *y,
                         ptrdiff_t rows, ptrdiff_t cols);
/* Batch normalization's backward pass in training mode, where
 * y = gamma * (x - mean) * inv_std + beta with the batch's own statistics:
 * dgamma = sum dy * xhat, dbeta = sum dy (either may be NULL),
 * dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)).
 * gamma may be NULL (all ones); dx may be NULL. */
int pynn_batchnorm_backward(const float *x, const float *dy, const float *mean,
                            const float *inv_std, const float *gamma, float *dx,
                            float *dgamma, float *dbeta, ptrdiff_t rows, ptrdiff_t cols);

/* Group normalization of x, n x s x groups x size floats (NHWC data with
 * its channels cut into groups of `size` consecutive channels, s the
 * pixels): each (sample, group) is normalized by its own mean and variance
 * over its s * size values, then channel j is scaled by gamma[j] and
 * shifted by beta[j] (either may be NULL).  mean and inv_std (n * groups)
 * receive each pair's mean and 1 / sqrt(var + eps).  Layer normalization
 * over the last axis of a rows x cols matrix is n = rows, s = 1,
 * groups = 1, size = cols. */
void pynn_group_norm_forward(const float *x, ptrdiff_t n, ptrdiff_t s, ptrdiff_t groups,
                             ptrdiff_t size, float eps, const float *gamma, const float *beta,
                             float *y, float *mean, float *inv_std);
/* Its backward pass from dy: dx (may be NULL), and the per-channel sums
 * dgamma = sum dy * xhat and dbeta = sum dy (either may be NULL).
 * Returns 0, or -1 when a work buffer cannot be allocated. */
int pynn_group_norm_backward(const float *x, const float *dy, ptrdiff_t n, ptrdiff_t s,
                             ptrdiff_t groups, ptrdiff_t size, const float *mean,
                             const float *inv_std, const float *gamma, float *dx, float *dgamma,
                             float *dbeta);

/* --------------------------------------------------------- activation.c */

enum pynn_activation {
    PYNN_ACT_LINEAR = 0,
    PYNN_ACT_RELU = 1,
    PYNN_ACT_LEAKY_RELU = 2,
    PYNN_ACT_ELU = 3,
    PYNN_ACT_SIGMOID = 4,
    PYNN_ACT_HARD_SIGMOID = 5,
    PYNN_ACT_TANH = 6,
    PYNN_ACT_SOFTPLUS = 7,
    PYNN_ACT_SWISH = 8,
    PYNN_ACT_SOFTMAX = 9, /* over the last axis: rows x cols */
    PYNN_ACT_RELU6 = 10,
    PYNN_ACT_HARD_SWISH = 11
};

/* y = act(x + bias) over a rows x cols matrix; bias (cols) may be NULL.
 * y may alias x. alpha is leaky_relu's slope or elu's alpha. */
void pynn_bias_activation_forward(int act, float alpha, const float *x,
                                  const float *bias, float *y,
                                  ptrdiff_t rows, ptrdiff_t cols);
/* dx = dy * act'(.) using the forward output y (and x where the derivative
 * needs it: only swish/softplus/elu/leaky_relu read x; x may be NULL for the
 * others). dx may alias dy. */
void pynn_activation_backward(int act, float alpha, const float *x,
                              const float *y, const float *dy, float *dx,
                              ptrdiff_t rows, ptrdiff_t cols);
/* db[j] = sum_i dy[i, j] (the bias gradient). */
void pynn_bias_grad(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols);

/* Keras's ReLU layer in general: y = x > threshold ? min(x, max_value) :
 * negative_slope * (x - threshold) (max_value INFINITY for none). */
void pynn_relu_general_forward(const float *x, float *y, ptrdiff_t n, float negative_slope,
                               float max_value, float threshold);
/* dx = dy * y'(x) for the function above (dx may alias dy). */
void pynn_relu_general_backward(const float *x, const float *dy, float *dx, ptrdiff_t n,
                                float negative_slope, float max_value, float threshold);
/* PReLU over a rows x cols matrix with one slope per column:
 * y = max(x, 0) + alpha * min(x, 0). */
void pynn_prelu_forward(const float *x, const float *alpha, float *y, ptrdiff_t rows,
                        ptrdiff_t cols);
/* dx = dy * (x > 0 ? 1 : alpha) and dalpha[j] = sum_i dy[i, j] * min(x[i, j], 0);
 * either may be NULL. */
void pynn_prelu_backward(const float *x, const float *alpha, const float *dy, float *dx,
                         float *dalpha, ptrdiff_t rows, ptrdiff_t cols);

/* ----------------------------------------------------------- loss.c */

enum pynn_loss {
    PYNN_LOSS_MSE = 0,
    PYNN_LOSS_MAE = 1,
    PYNN_LOSS_BINARY_CROSSENTROPY = 2,
    PYNN_LOSS_CATEGORICAL_CROSSENTROPY = 3,
    /* categorical cross-entropy on logits, softmax fused: stable for any x */
    PYNN_LOSS_SOFTMAX_CROSSENTROPY = 4,
    /* binary cross-entropy on logits, sigmoid fused */
    PYNN_LOSS_SIGMOID_CROSSENTROPY = 5
};

/* Per-sample losses and the gradient of
 *   L = sum_i w_i * loss_i / scale
 * with respect to pred (rows x cols).  target is rows x cols floats.
 * sample_loss (rows) receives loss_i (unweighted); grad (rows x cols) may be
 * NULL.  weights (rows) may be NULL (all ones).  Keras averages a sample's
 * elementwise losses over the last axis, as here.  The categorical
 * cross-entropy divides each row of pred by its sum before clipping it to
 * [1e-7, 1 - 1e-7], as Keras does (so does the sparse one below, without
 * from_logits). */
void pynn_loss(int kind, const float *pred, const float *target,
               const float *weights, float scale, float *sample_loss,
               float *grad, ptrdiff_t rows, ptrdiff_t cols);
/* The same for integer class labels (sparse categorical cross-entropy);
 * from_logits selects the fused softmax form.  Returns the number of labels
 * outside [0, cols): their rows get a NaN loss and a zero gradient. */
ptrdiff_t pynn_sparse_loss(int from_logits, const float *pred, const int32_t *labels,
                      const float *weights, float scale, float *sample_loss,
                      float *grad, ptrdiff_t rows, ptrdiff_t cols);

enum pynn_accuracy {
    PYNN_ACC_CATEGORICAL = 0, /* argmax(pred) == argmax(target), target float */
    PYNN_ACC_SPARSE = 1,      /* argmax(pred) == label, target int32 */
    PYNN_ACC_BINARY = 2       /* mean over cols of (pred > threshold) == (target > 0.5) */
};
/* sum_i w_i * hit_i over the rows (weights may be NULL: all ones). */
double pynn_accuracy(int kind, const float *pred, const void *target,
                     const float *weights, ptrdiff_t rows, ptrdiff_t cols,
                     float threshold);

/* ----------------------------------------------------------- optim.c */

/* All updates are in place over n parameters, one pass each. */
/* Keras SGD: v = momentum*v - lr*g; w += v (nesterov: w += momentum*v - lr*g).
 * v may be NULL when momentum == 0. */
void pynn_sgd_update(float *w, const float *g, float *v, ptrdiff_t n,
                     float lr, float momentum, int nesterov);
/* Keras 3 RMSprop: s = rho*s + (1-rho)*g^2; d = s + eps, and when centered
 * (mg not NULL) mg = rho*mg + (1-rho)*g, d -= mg^2; step = lr*g/sqrt(d);
 * with momentum (m not NULL) m = momentum*m + step, step = m; w -= step. */
void pynn_rmsprop_update(float *w, const float *g, float *s, float *m, float *mg, ptrdiff_t n,
                         float lr, float rho, float momentum, float eps);
/* Keras Adam, step t >= 1:
 * m += (1-b1)(g-m); v += (1-b2)(g^2-v);
 * w -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps). */
void pynn_adam_update(float *w, const float *g, float *m, float *v, ptrdiff_t n,
                      float lr, float beta1, float beta2, float eps, int64_t t);

/* L1/L2 regularization of n weights: returns sum(l1 |w| + l2 w^2) and, when
 * g is not NULL, adds the penalty's gradient l1 sign(w) + 2 l2 w to g. */
double pynn_weight_penalty(const float *w, float *g, ptrdiff_t n, float l1, float l2);

/* ---------------------------------------------------------- recurrent.c */

enum pynn_rnn_cell {
    PYNN_RNN_SIMPLE = 0, /* h = act(x W + h R + b) */
    PYNN_RNN_LSTM = 1,   /* gates i, f, c, o (Keras's order) */
    PYNN_RNN_GRU = 2     /* gates z, r, h (Keras's order) */
};

/* One recurrent layer's run through time, with Keras 3's semantics and
 * weight layouts.  x is batch x steps x input; kernel input x G*units,
 * recurrent kernel units x G*units (G = 1, 4, 3 gates); the bias G*units,
 * or 2 x 3*units (input bias, then recurrent bias) for GRU with
 * reset_after.  act and rec_act are PYNN_ACT_LINEAR, _RELU, _SIGMOID,
 * _HARD_SIGMOID or _TANH. */
typedef struct {
    int cell;                  /* enum pynn_rnn_cell */
    ptrdiff_t batch, steps, input, units;
    int act, rec_act;          /* the activation and the gates' activation */
    int reset_after;           /* GRU: reset gate applied after the recurrent product */
    int go_backwards;          /* process the steps last to first */
    int return_sequences;      /* output every step (batch x steps x units), else the last */
    int zero_masked_outputs;   /* masked steps output zeros, not the carried state */
    int training;              /* keep what the backward pass needs */
} pynn_rnn_desc;

/* Floats of the work buffer that forward and backward share, or -1 when
 * the description is invalid (steps, input or units < 1, an unsupported
 * activation) or its buffer would not be addressable. */
ptrdiff_t pynn_rnn_work_size(const pynn_rnn_desc *d);
/* Runs the layer: y gets every step's output in processing order (reversed
 * time when go_backwards, as Keras returns it) or the last one; h_out (and
 * c_out for LSTM) the final states.  bias, mask (batch x steps, nonzero =
 * step taken; a masked step carries the states over and outputs the
 * carried h), input_mask (batch x input, multiplied into every step's x),
 * rec_mask (batch x units, multiplied into h before the recurrent
 * product), h0 and c0 (zeros) may be NULL.  Returns 0, or -1 for an
 * invalid description. */
int pynn_rnn_forward(const pynn_rnn_desc *d, const float *x, const float *kernel,
                     const float *rec, const float *bias, const uint8_t *mask,
                     const float *input_mask, const float *rec_mask, const float *h0,
                     const float *c0, float *y, float *h_out, float *c_out, float *work);
/* Backward through time from a training forward pass's work buffer (which
 * it consumes: call once per forward), with the same weights and masks.
 * dy is the gradient of y, dh_last and dc_last of the final states; any may
 * be NULL (zero).  Writes dx (batch x steps x input), dh0 and dc0 when not
 * NULL, and overwrites dkernel, drec and dbias (NULL without a bias).
 * Returns 0, or -1 for an invalid description or one without training. */
int pynn_rnn_backward(const pynn_rnn_desc *d, const float *kernel, const float *rec,
                      const uint8_t *mask, const float *input_mask, const float *rec_mask,
                      const float *dy, const float *dh_last, const float *dc_last,
                      float *work, float *dx, float *dh0, float *dc0, float *dkernel,
                      float *drec, float *dbias);

/* out[i] = table[ids[i]] (dim floats each) for n ids, int64 when ids_wide
 * else int32.  Ids outside [0, vocab) are never read: the function then
 * writes nothing and returns their number, the smallest and largest in
 * *bad_lo and *bad_hi.  Returns 0 when all are valid, -1 for negative
 * sizes. */
ptrdiff_t pynn_embedding_gather(const float *table, ptrdiff_t vocab, ptrdiff_t dim,
                                const void *ids, int ids_wide, ptrdiff_t n, float *out,
                                int64_t *bad_lo, int64_t *bad_hi);
/* The embedding's gradient, touching only the rows that occur: zeroes the
 * rows of grad (vocab x dim) named by prev_ids (the previous batch's ids,
 * so its rows do not go stale) and by ids, then adds row i of dy into row
 * ids[i].  Out-of-range ids are reported as by pynn_embedding_gather,
 * before anything is written. */
ptrdiff_t pynn_embedding_scatter_add(const void *ids, int ids_wide, ptrdiff_t n,
                                     const float *dy, const void *prev_ids, int prev_wide,
                                     ptrdiff_t n_prev, float *grad, ptrdiff_t vocab,
                                     ptrdiff_t dim, int64_t *bad_lo, int64_t *bad_hi);

/* -------------------------------------------------------- elementwise.c */

/* y = x * mask * scale where mask is drawn from a counter-based generator:
 * keep with probability 1-rate.  Element i draws from (seed, offset + i),
 * so a batch split across processes, each passing its rows' offset into
 * the whole batch, draws the mask the whole batch would.  mask (n bytes)
 * records the draw for the backward pass. */
void pynn_dropout_forward(const float *x, float *y, uint8_t *mask, ptrdiff_t n,
                          float rate, uint64_t seed, uint64_t offset);
void pynn_dropout_backward(const float *dy, const uint8_t *mask, float *dx,
                           ptrdiff_t n, float rate);
/* y = mask ? x * scale + shift : fill over n floats, the mask a dropout's
 * (alpha dropout, and with shift = fill = 0 its gradient); y may alias x. */
void pynn_masked_affine(const float *x, const uint8_t *mask, float *y, ptrdiff_t n,
                        float scale, float shift, float fill);
/* n draws from the normal distribution N(mean, stddev^2), a function of the
 * seed and each value's index alone (the same for any thread count). */
void pynn_random_normal(float *y, ptrdiff_t n, float mean, float stddev, uint64_t seed);
/* y[b, i, :] = x[b, i, :] * scale[b, :] over n x s x c values (a per-sample,
 * per-channel factor: spatial dropout); y may alias x. */
void pynn_sample_channel_scale(const float *x, const float *scale, float *y, ptrdiff_t n,
                               ptrdiff_t s, ptrdiff_t c);
/* Gathers rows idx[0..count) of src (rows x cols) into dst (count x cols). */
void pynn_gather_rows(const void *src, const int64_t *idx, void *dst,
                      ptrdiff_t count, ptrdiff_t row_bytes);
/* 1 when every one of the n floats is finite. */
int pynn_all_finite(const float *x, ptrdiff_t n);

/* Merging tensors (the merge layers and gradient sums). */
enum pynn_binary_op {
    PYNN_BIN_ADD = 0,
    PYNN_BIN_SUB = 1,
    PYNN_BIN_MUL = 2,
    PYNN_BIN_MAX = 3, /* NaN in either input gives NaN */
    PYNN_BIN_MIN = 4,
    PYNN_BIN_DIV = 5
};
/* y = a op b over n floats; y may alias a or b. */
void pynn_binary(int op, const float *a, const float *b, float *y, ptrdiff_t n);
/* y = alpha * a + beta * b (b may be NULL: y = alpha * a); y may alias a or b. */
void pynn_axpby(float alpha, const float *a, float beta, const float *b, float *y, ptrdiff_t n);
/* The gradient of y = max (or min) of k arrays: dxs[j] = dy where xs[j] is
 * the first of the k to equal y, 0 elsewhere (dxs[j] may be NULL). */
void pynn_extremum_backward(int k, const float *const *xs, const float *y, const float *dy,
                            float *const *dxs, ptrdiff_t n);
/* Copies a rows x cols block of floats between row strides lds and ldd
 * (concatenation along an axis, and its gradient). */
void pynn_copy_2d(const float *src, ptrdiff_t lds, float *dst, ptrdiff_t ldd, ptrdiff_t rows,
                  ptrdiff_t cols);
/* y = x / sqrt(max(sum x^2, eps)) for each row of a rows x cols matrix;
 * inv (rows) receives 1 / sqrt(max(sum x^2, eps)). */
void pynn_l2_normalize_rows(const float *x, float *y, float *inv, ptrdiff_t rows,
                            ptrdiff_t cols, float eps);
/* dx from dy for pynn_l2_normalize_rows, given its x, y and inv. */
void pynn_l2_normalize_backward_rows(const float *x, const float *y, const float *inv,
                                     const float *dy, float *dx, ptrdiff_t rows,
                                     ptrdiff_t cols, float eps);
/* -------------------------------------------------------------- image.c */

enum pynn_interpolation { PYNN_INTERP_NEAREST = 0, PYNN_INTERP_BILINEAR = 1 };
/* scipy.ndimage's boundary modes of the same names (the first four are
 * Keras 2's fill_mode; Keras 3's layers mean the grid modes by 'constant'
 * and 'wrap'). */
enum pynn_fill_mode {
    PYNN_FILL_CONSTANT = 0,      /* cval outside [0, len - 1], no blending with it */
    PYNN_FILL_NEAREST = 1,       /* the edge pixel repeated */
    PYNN_FILL_REFLECT = 2,       /* d c b a | a b c d | d c b a */
    PYNN_FILL_WRAP = 3,          /* scipy's "wrap": period len - 1 */
    PYNN_FILL_GRID_CONSTANT = 4, /* k k | a b c d | k k, interpolated with cval */
    PYNN_FILL_GRID_WRAP = 5      /* a b c d | a b c d | a b c d: period len */
};

/* Output n x oh x ow x c, input images h x w x c (NHWC). */
typedef struct {
    ptrdiff_t n, h, w, c;
    ptrdiff_t oh, ow;
} pynn_warp_shape;

/* y[b] = x[i] (i = index[b], or b when index is NULL) resampled through
 * the affine map of image b: output pixel (r, c) reads the input at row
 * m[0] r + m[1] c + m[2], column m[3] r + m[4] c + m[5], m = matrices +
 * 6 b, exactly as
 * scipy.ndimage.affine_transform(order=0 or 1, mode, cval) maps each
 * channel (Keras's apply_affine_transform).  Then, per image, where given:
 * channel_shift[b]: y = clip(y + shift, min(y), max(y)) (Keras's
 * apply_channel_shift); brightness[b]: y = clip(y * f, 0, 255), or for an
 * image outside [0, 255], min + clip((y - min) * f, 0, max - min) (Keras's
 * apply_brightness_shift without its rounding to 8 bits; the alpha of
 * 4-channel images is kept); and per channel k, when scale and offset are
 * both given: y = y * scale[k] + offset[k].  y must not overlap x; one
 * image must hold fewer than 2^31 values. */
void pynn_affine_warp(const pynn_warp_shape *s, const float *x, const int64_t *index,
                      const double *matrices, int interpolation, int fill_mode, float cval,
                      const float *channel_shift, const float *brightness,
                      const float *scale, const float *offset, float *y);

/* ----------------------------------------------------------- reshape.c */

/* A window shift of n samples of d x h x w x c values (NDHWC; 2-D data has
 * d = 1, 1-D data d = h = 1) into n samples of od x oh x ow x c: input
 * pixel (z, i, j) lands on output pixel (z + fd, i + fh, j + fw), and output
 * pixels no input pixel lands on get `fill`.  Zero padding is a shift by
 * the leading padding into a larger output; cropping a shift by minus the
 * leading crop into a smaller one; each is the other's gradient. */
typedef struct {
    ptrdiff_t n, d, h, w, c;
    ptrdiff_t od, oh, ow;
    ptrdiff_t fd, fh, fw;
} pynn_shift_shape;
void pynn_pad_crop(const pynn_shift_shape *s, const float *x, float *y, float fill);

/* Image resizing with half-pixel centres, as TensorFlow 2's and Keras 3's
 * image.resize (without antialiasing): the window [top, top + wh) x
 * [left, left + ww) of each n x h x w x c input is resized to oh x ow.
 * Output row o samples the window at (o + 0.5) * wh / oh - 0.5 (likewise
 * for columns): nearest takes the value at floor((o + 0.5) * wh / oh),
 * bilinear interpolates between the two values around, clamped to the
 * window's border. */
enum pynn_resize_mode {
    PYNN_RESIZE_NEAREST = 0,
    PYNN_RESIZE_BILINEAR = 1
};
typedef struct {
    ptrdiff_t n, h, w, c;
    ptrdiff_t top, left, wh, ww;
    ptrdiff_t oh, ow;
} pynn_resize_shape;
void pynn_resize_forward(const pynn_resize_shape *s, int mode, const float *x, float *y);
/* dx (the whole n x h x w x c input, zero outside the window) from dy. */
void pynn_resize_backward(const pynn_resize_shape *s, int mode, const float *dy, float *dx);

/* y[o, t, :] = x[o, :] for t < times: x is outer x inner floats, y outer x
 * times x inner (RepeatVector, UpSampling1D). */
void pynn_repeat(const float *x, ptrdiff_t outer, ptrdiff_t times, ptrdiff_t inner, float *y);
/* dx[o, :] = sum over t of dy[o, t, :], the gradient of pynn_repeat. */
void pynn_repeat_backward(const float *dy, ptrdiff_t outer, ptrdiff_t times, ptrdiff_t inner,
                          float *dx);

/* The most axes pynn_transpose takes. */
#define PYNN_MAX_RANK 8
/* y = x (C order, `shape`) with its axes permuted: output axis a is input
 * axis perm[a] (NumPy's transpose), for 1 <= rank <= PYNN_MAX_RANK. */
void pynn_transpose(const float *x, int rank, const ptrdiff_t *shape, const int *perm,
                    float *y);

/* -------------------------------------------------------------- hash.c */

/* FarmHash's Fingerprint64 (farmhashna::Hash64) of len bytes: the hash of
 * TensorFlow's to_hash_bucket_fast and Keras's Hashing without a salt. */
uint64_t pynn_fingerprint64(const unsigned char *s, size_t len);
/* SipHash-2-4 of len bytes with the key (k0, k1): the hash of TensorFlow's
 * to_hash_bucket_strong and Keras's Hashing with a salt. */
uint64_t pynn_siphash24(uint64_t k0, uint64_t k1, const unsigned char *s, size_t len);
/* out[i] = hash(string i) % num_buckets for the n strings packed in bytes,
 * string i being bytes[offsets[i] .. offsets[i + 1]) (offsets has n + 1
 * entries, from 0, never decreasing); the hash is SipHash-2-4 keyed by
 * (k0, k1) when keyed, else Fingerprint64.  PYNN_EINVAL (nothing written)
 * for n < 0, num_buckets < 1 or offsets out of order. */
int pynn_hash_buckets(const unsigned char *bytes, const int64_t *offsets, ptrdiff_t n,
                      int64_t num_buckets, int keyed, uint64_t k0, uint64_t k1, int64_t *out);
/* As pynn_hash_buckets for the decimal text of n integers (TensorFlow's
 * as_string: "-12", "0", "9223372036854775807"). */
int pynn_hash_int64_buckets(const int64_t *values, ptrdiff_t n, int64_t num_buckets, int keyed,
                            uint64_t k0, uint64_t k1, int64_t *out);
/* out[i] = Fingerprint64 of string i of the n strings packed as for
 * pynn_hash_buckets (the whole 64 bits: tf.sparse.cross_hashed combines
 * them).  PYNN_EINVAL (nothing written) for n < 0 or offsets out of
 * order. */
int pynn_fingerprint64_strings(const unsigned char *bytes, const int64_t *offsets, ptrdiff_t n,
                               uint64_t *out);

/* -------------------------------------------------------------- plan.c */

/* A model's whole inference pass as one call: an array of steps, each one
 * kernel call on operands that live in numbered buffers (the caller's
 * table: a work arena, the inputs, the outputs, the weights).  Built once
 * per model and input shape; each concurrent run passes its own arena. */
enum pynn_plan_kind {
    PYNN_PLAN_DENSE = 0,         /* y = act(x w + b): x rows x inner, w inner x cols */
    PYNN_PLAN_CONV2D = 1,        /* pynn_conv2d_forward with conv, act, alpha */
    PYNN_PLAN_DEPTHWISE = 2,     /* pynn_depthwise_conv2d_forward */
    PYNN_PLAN_MAX_POOL = 3,      /* pynn_max_pool2d_forward with pool */
    PYNN_PLAN_AVG_POOL = 4,      /* pynn_avg_pool2d_forward */
    PYNN_PLAN_ACTIVATION = 5,    /* y = act(x) over rows x cols */
    PYNN_PLAN_RELU_GENERAL = 6,  /* pynn_relu_general_forward over rows x cols, with
                                  * negative_slope, max_value, threshold = p[0..2] */
    PYNN_PLAN_BINARY = 7,        /* y = x op x2 (op = act, enum pynn_binary_op) */
    PYNN_PLAN_SCALE = 8,         /* y = alpha * x */
    PYNN_PLAN_COPY = 9,          /* y = x */
    PYNN_PLAN_BATCH_NORM = 10,   /* y = x * scale + shift over rows x cols, scale and
                                  * shift from the statistics (see below) into w */
    PYNN_PLAN_FOLD = 11,         /* a batch normalization folded into a kernel: from
                                  * x (rows x cols, the output channels last) and bias
                                  * b, y = [x * scale | b * scale + shift | scale | shift] */
    PYNN_PLAN_COPY_BLOCK = 12,   /* rows x cols from x (rows ldx apart) into y (ldy
                                  * apart): pynn_copy_2d, one input of a concatenation */
    PYNN_PLAN_PAD_CROP = 13,     /* pynn_pad_crop with shift, fill = alpha */
    PYNN_PLAN_BINARY_ROWS = 14,  /* row r of y (rows x cols) = row r / group_x of x op
                                  * row r / group_x2 of x2 (op = act): a merge whose
                                  * inputs broadcast over whole rows */
    PYNN_PLAN_AFFINE = 15,       /* y = x * w + b over rows x cols, w and b one value
                                  * per column (pynn_channel_affine) */
    PYNN_PLAN_STANDARDIZE = 16,  /* y = x * scale + shift over rows x cols, scale and
                                  * shift into w from the statistics mean and var as
                                  * pynn.ops.standardize_affine makes them (act: 1 for
                                  * the inverse), with eps the smallest deviation */
    PYNN_PLAN_PRELU = 17         /* pynn_prelu_forward over rows x cols, alpha = w */
};

/* Where an operand lies: buffer `buf` of the run's table (-1: none) at
 * `off` floats. */
typedef struct {
    int buf;
    ptrdiff_t off;
} pynn_plan_ref;

/* One step.  Sizes by kind: DENSE rows, inner, cols; ACTIVATION,
 * RELU_GENERAL, BINARY, SCALE, COPY rows x cols values; BATCH_NORM,
 * STANDARDIZE, AFFINE, PRELU and FOLD rows x cols with cols channels;
 * COPY_BLOCK and BINARY_ROWS rows x cols with their strides or groups.  The batch normalization's
 * per-channel scale = gamma / sqrt(var + eps) (gamma absent: 1) and
 * shift = beta - mean * scale (beta absent: 0), computed as
 * pynn.ops.batch_norm_affine does, value for value. */
typedef struct {
    int kind;          /* enum pynn_plan_kind */
    int act;           /* enum pynn_activation, or the binary op */
    float alpha;       /* the activation's alpha; SCALE's factor */
    float p[3];        /* RELU_GENERAL's arguments */
    double eps;        /* the batch normalization's epsilon */
    ptrdiff_t rows, inner, cols;
    pynn_conv_shape conv;
    pynn_pool_shape pool;
    pynn_shift_shape shift;
    ptrdiff_t ldx, ldy;         /* COPY_BLOCK's row strides */
    ptrdiff_t group_x, group_x2; /* BINARY_ROWS: rows of y per row of x, of x2 */
    pynn_plan_ref x, x2, w, b, y;
    pynn_plan_ref mean, var, gamma, beta;
} pynn_plan_step;

/* Checks a plan before it is run: every kind known, every size >= 0 and
 * its products without overflow, every operand inside its buffer
 * (sizes[buf] floats, nbufs of them), outputs only into writable buffers
 * and not overlapping the step's inputs.  PYNN_OK or PYNN_EINVAL. */
int pynn_plan_check(const pynn_plan_step *steps, ptrdiff_t count, const ptrdiff_t *sizes,
                    const unsigned char *writable, int nbufs);
/* Runs the steps in order over the buffers of `table`.  Returns PYNN_OK or
 * the first failing kernel's status. */
int pynn_plan_run(const pynn_plan_step *steps, ptrdiff_t count, float *const *table);

#ifdef __cplusplus
}
#endif

#endif /* PYNN_H */
