/*
 * conv.cu - 2-D convolution as an implicit GEMM, and depthwise convolution.
 *
 * Forward: Y (n*oh*ow x cout) = A (n*oh*ow x kh*kw*cin) * K (kh*kw*cin x
 * cout), where the HWIO kernel already is the K matrix and row p, column
 * (ky, kx, ci) of A is input pixel (oy*sh - pad_top + ky*dh, ox*sw -
 * pad_left + kx*dw), channel ci, of the sample of output pixel p (zero
 * outside the image).  The tiled GEMM reads A through a loader that
 * computes that address, so the unrolled matrix never exists in memory;
 * the bias and the activation are applied as the tile is written.
 *
 * Backward, with G = dY times the activation's derivative:
 *   dK = A^T G (a long reduction over pixels: split K),
 *   dX = G' W' where row (b, iy, ix), column (ky, kx, co) of G' is the
 *        output pixel that read (iy, ix) through tap (ky, kx), if any,
 *        and W' (kh*kw*cout x cin) is the kernel with its last two axes
 *        swapped; both read in place by loaders.
 */
#include "gemm_tile.cuh"

using namespace pynn_cuda;

namespace {

/* The loaders index in I: int where every index of the convolution fits
 * in 31 bits (the usual case: 32-bit division is several times cheaper
 * than 64-bit, and the loaders divide for every element they read), else
 * ptrdiff_t. */
template <typename I>
struct Geometry {
    I h, w, cin, oh, ow, kw, cout, sh, sw, dh, dw, pt, pl;
};

template <typename I>
Geometry<I> geometry_of(const pynn_conv_shape *s)
{
    return Geometry<I>{(I)s->h,  (I)s->w,  (I)s->cin, (I)s->oh, (I)s->ow,
                       (I)s->kw, (I)s->cout, (I)s->sh, (I)s->sw, (I)s->dh,
                       (I)s->dw, (I)s->pad_top, (I)s->pad_left};
}

/* A: row p = (b, oy, ox), column q = (ky, kx, ci) -> the input value.
 * A row's line is its sample's first input value and its window's origin;
 * a column's tap is the offset (ky*dh, kx*dw) and the channel. */
template <typename I>
struct ImageRows {
    const float *x;
    Geometry<I> g;
    struct Line {
        I base, iy0, ix0;
    };
    struct Tap {
        I dy, dx, ci;
    };
    __device__ Line line(ptrdiff_t, ptrdiff_t p_) const
    {
        const I p = (I)p_;
        I ox = p % g.ow, t = p / g.ow, oy = t % g.oh, b = t / g.oh;
        return Line{b * g.h * g.w * g.cin, oy * g.sh - g.pt, ox * g.sw - g.pl};
    }
    __device__ Tap tap(ptrdiff_t q_) const
    {
        const I q = (I)q_;
        I ci = q % g.cin, u = q / g.cin, kx = u % g.kw, ky = u / g.kw;
        return Tap{ky * g.dh, kx * g.dw, ci};
    }
    __device__ float at(const Line &l, const Tap &t) const
    {
        I iy = l.iy0 + t.dy, ix = l.ix0 + t.dx;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return 0.0f;
        return x[l.base + (iy * g.w + ix) * g.cin + t.ci];
    }
    __device__ bool k_contiguous() const { return true; }
};

/* A^T for the kernel gradient: row q = (ky, kx, ci), column p. */
template <typename I>
struct ImageCols {
    ImageRows<I> a;
    __device__ typename ImageRows<I>::Tap line(ptrdiff_t, ptrdiff_t q) const { return a.tap(q); }
    __device__ typename ImageRows<I>::Line tap(ptrdiff_t p) const { return a.line(0, p); }
    __device__ float at(const typename ImageRows<I>::Tap &l,
                        const typename ImageRows<I>::Line &t) const
    {
        return a.at(t, l);
    }
    __device__ bool k_contiguous() const { return false; }
};

/* G' for the input gradient: row r = (b, iy, ix), column q = (ky, kx, co)
 * -> g at the output pixel that tap (ky, kx) of it read from (iy, ix). */
template <typename I>
struct GradRows {
    const float *g;
    Geometry<I> s;
    struct Line {
        I base, ty0, tx0;
    };
    struct Tap {
        I dy, dx, co;
    };
    __device__ Line line(ptrdiff_t, ptrdiff_t r_) const
    {
        const I r = (I)r_;
        I ix = r % s.w, t = r / s.w, iy = t % s.h, b = t / s.h;
        return Line{b * s.oh * s.ow * s.cout, iy + s.pt, ix + s.pl};
    }
    __device__ Tap tap(ptrdiff_t q_) const
    {
        const I q = (I)q_;
        I co = q % s.cout, u = q / s.cout, kx = u % s.kw, ky = u / s.kw;
        return Tap{ky * s.dh, kx * s.dw, co};
    }
    __device__ float at(const Line &l, const Tap &t) const
    {
        I ty = l.ty0 - t.dy, tx = l.tx0 - t.dx;
        if (ty < 0 || tx < 0) return 0.0f;
        I oy = ty, ox = tx;
        if (s.sh != 1) {
            if (ty % s.sh) return 0.0f;
            oy = ty / s.sh;
        }
        if (s.sw != 1) {
            if (tx % s.sw) return 0.0f;
            ox = tx / s.sw;
        }
        if (oy >= s.oh || ox >= s.ow) return 0.0f;
        return g[l.base + (oy * s.ow + ox) * s.cout + t.co];
    }
    __device__ bool k_contiguous() const { return true; }
};

/* W': row q = (ky, kx, co), column ci -> kernel[ky, kx, ci, co]. */
template <typename I>
struct KernelSwapped {
    const float *k;
    I cin, cout;
    __device__ I line(ptrdiff_t, ptrdiff_t ci) const { return (I)ci * cout; }
    __device__ I tap(ptrdiff_t q_) const
    {
        const I q = (I)q_;
        return q / cout * cin * cout + q % cout;
    }
    __device__ float at(I l, I t) const { return k[l + t]; }
    __device__ bool n_contiguous() const { return false; }
};

/* Whether every index the loaders compute fits an int: the tensors'
 * sizes, and the padded extents the window positions reach. */
bool fits_int(const pynn_conv_shape *s)
{
    const double limit = 2147483647.0;
    const double in = (double)s->n * s->h * s->w * s->cin;
    const double out = (double)s->n * s->oh * s->ow * s->cout;
    const double ker = (double)s->kh * s->kw * s->cin * s->cout;
    const double reach_y = (double)s->oh * s->sh + s->pad_top + (double)s->kh * s->dh + s->h;
    const double reach_x = (double)s->ow * s->sw + s->pad_left + (double)s->kw * s->dw + s->w;
    return in < limit && out < limit && ker < limit && reach_y < limit && reach_x < limit &&
           (double)s->n * s->h * s->w * s->kh * s->kw * s->cout < limit &&
           (double)s->n * s->oh * s->ow * s->kh * s->kw * s->cin < limit;
}

bool bad_shape(const pynn_conv_shape *s)
{
    const ptrdiff_t v[] = {s->n, s->h, s->w, s->cin, s->kh, s->kw, s->cout, s->oh, s->ow};
    for (ptrdiff_t d : v)
        if (bad_size(d)) return true;
    if (s->sh < 1 || s->sw < 1 || s->dh < 1 || s->dw < 1) return true;
    /* every product the kernels index must stay far inside 64 bits */
    double in = (double)s->n * s->h * s->w * s->cin, out = (double)s->n * s->oh * s->ow * s->cout;
    double ker = (double)s->kh * s->kw * s->cin * s->cout;
    return in > 1e15 || out > 1e15 || ker > 1e15;
}

/* ------------------------------------------------------------ depthwise */

__global__ void depthwise_forward_kernel(const float *x, const float *k, const float *bias,
                                         int act, float alpha, float *y, pynn_conv_shape s)
{
    const ptrdiff_t mult = s.cout, channels = s.cin * mult;
    const ptrdiff_t total = s.n * s.oh * s.ow * channels;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        ptrdiff_t oc = i % channels, p = i / channels;
        ptrdiff_t ox = p % s.ow, t = p / s.ow, oy = t % s.oh, b = t / s.oh;
        ptrdiff_t c = oc / mult, mm = oc % mult;
        float acc = 0.0f;
        for (ptrdiff_t ky = 0; ky < s.kh; ky++) {
            ptrdiff_t iy = oy * s.sh - s.pad_top + ky * s.dh;
            if (iy < 0 || iy >= s.h) continue;
            for (ptrdiff_t kx = 0; kx < s.kw; kx++) {
                ptrdiff_t ix = ox * s.sw - s.pad_left + kx * s.dw;
                if (ix < 0 || ix >= s.w) continue;
                acc = fmaf(x[((b * s.h + iy) * s.w + ix) * s.cin + c],
                           k[((ky * s.kw + kx) * s.cin + c) * mult + mm], acc);
            }
        }
        if (bias) acc += bias[oc];
        y[i] = act_forward(act, alpha, acc);
    }
}

__global__ void depthwise_input_grad_kernel(const float *k, const float *dy, float *dx,
                                            pynn_conv_shape s)
{
    const ptrdiff_t mult = s.cout, channels = s.cin * mult;
    const ptrdiff_t total = s.n * s.h * s.w * s.cin;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        ptrdiff_t c = i % s.cin, p = i / s.cin;
        ptrdiff_t ix = p % s.w, t = p / s.w, iy = t % s.h, b = t / s.h;
        float acc = 0.0f;
        for (ptrdiff_t ky = 0; ky < s.kh; ky++) {
            ptrdiff_t ty = iy + s.pad_top - ky * s.dh;
            if (ty < 0 || ty % s.sh) continue;
            ptrdiff_t oy = ty / s.sh;
            if (oy >= s.oh) continue;
            for (ptrdiff_t kx = 0; kx < s.kw; kx++) {
                ptrdiff_t tx = ix + s.pad_left - kx * s.dw;
                if (tx < 0 || tx % s.sw) continue;
                ptrdiff_t ox = tx / s.sw;
                if (ox >= s.ow) continue;
                const float *g = dy + ((b * s.oh + oy) * s.ow + ox) * channels + c * mult;
                const float *kk = k + ((ky * s.kw + kx) * s.cin + c) * mult;
                for (ptrdiff_t mm = 0; mm < mult; mm++) acc = fmaf(g[mm], kk[mm], acc);
            }
        }
        dx[i] = acc;
    }
}

/* One block per kernel weight (ky, kx, c, m): the sum over every output
 * pixel of the input it read times the output's gradient. */
__global__ void depthwise_kernel_grad_kernel(const float *x, const float *dy, float *dk,
                                             pynn_conv_shape s)
{
    __shared__ float scratch[kThreads];
    const ptrdiff_t mult = s.cout, channels = s.cin * mult;
    const ptrdiff_t q = blockIdx.x;
    const ptrdiff_t mm = q % mult, c = (q / mult) % s.cin, tap = q / (mult * s.cin);
    const ptrdiff_t kx = tap % s.kw, ky = tap / s.kw;
    const ptrdiff_t pixels = s.n * s.oh * s.ow;
    float acc = 0.0f;
    for (ptrdiff_t p = threadIdx.x; p < pixels; p += blockDim.x) {
        ptrdiff_t ox = p % s.ow, t = p / s.ow, oy = t % s.oh, b = t / s.oh;
        ptrdiff_t iy = oy * s.sh - s.pad_top + ky * s.dh, ix = ox * s.sw - s.pad_left + kx * s.dw;
        if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
        acc = fmaf(x[((b * s.h + iy) * s.w + ix) * s.cin + c], dy[p * channels + c * mult + mm],
                   acc);
    }
    float total = block_sum(acc, scratch);
    if (threadIdx.x == 0) dk[q] = total;
}

}  // namespace

namespace {

/* Y = A K, with the bias and activation in the epilogue; a product with
 * few output tiles (a small image, batch 1) splits K and applies them
 * after the sum. */
template <typename I>
cudaError_t conv_forward_gemm(const pynn_conv_shape *s, const float *x, const float *k,
                              Epilogue epi, cudaStream_t stream)
{
    const ptrdiff_t M = s->n * s->oh * s->ow, N = s->cout, K = s->kh * s->kw * s->cin;
    const int splits = split_k_for(M, N, K);
    if (splits == 1)
        return launch_tiled_gemm(M, N, K, 1, 1, ImageRows<I>{x, geometry_of<I>(s)},
                                 MatB{k, N, 0, 0}, epi, stream);
    Epilogue plain{epi.c, N, 0, 1.0f, 0.0f, nullptr, PYNN_ACT_LINEAR, 0.0f, 0};
    PYNN_CHECK(launch_tiled_gemm(M, N, K, 1, splits, ImageRows<I>{x, geometry_of<I>(s)},
                                 MatB{k, N, 0, 0}, plain, stream));
    if (!epi.bias && epi.act == PYNN_ACT_LINEAR) return cudaSuccess;
    return (cudaError_t)pynn_cuda_bias_activation_forward(epi.act, epi.act_alpha, epi.c,
                                                          epi.bias, epi.c, M, N, stream);
}

template <typename I>
cudaError_t conv_backward_gemms(const pynn_conv_shape *s, const float *x, const float *k,
                                const float *grad, float *dk, float *dx, cudaStream_t stream)
{
    const ptrdiff_t P = s->n * s->oh * s->ow, taps = s->kh * s->kw;
    const Geometry<I> g = geometry_of<I>(s);
    if (dk) {
        const ptrdiff_t M = taps * s->cin, N = s->cout;
        Epilogue epi{dk, N, 0, 1.0f, 0.0f, nullptr, PYNN_ACT_LINEAR, 0.0f, 0};
        PYNN_CHECK(launch_tiled_gemm(M, N, P, 1, split_k_for(M, N, P),
                                     ImageCols<I>{ImageRows<I>{x, g}}, MatB{grad, N, 0, 0}, epi,
                                     stream));
    }
    if (dx) {
        const ptrdiff_t M = s->n * s->h * s->w, N = s->cin;
        Epilogue epi{dx, N, 0, 1.0f, 0.0f, nullptr, PYNN_ACT_LINEAR, 0.0f, 0};
        PYNN_CHECK(launch_tiled_gemm(M, N, taps * s->cout, 1, 1, GradRows<I>{grad, g},
                                     KernelSwapped<I>{k, (I)s->cin, (I)s->cout}, epi, stream));
    }
    return cudaSuccess;
}

}  // namespace

extern "C" int pynn_cuda_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                                        const float *bias, int act, float alpha, float *y,
                                        cudaStream_t stream)
{
    if (bad_shape(s)) return cudaErrorInvalidValue;
    const ptrdiff_t M = s->n * s->oh * s->ow, N = s->cout;
    const int softmax = act == PYNN_ACT_SOFTMAX;
    Epilogue epi{y, N, 0, 1.0f, 0.0f, softmax ? nullptr : bias,
                 softmax ? PYNN_ACT_LINEAR : act, alpha, 0};
    PYNN_CHECK(fits_int(s) ? conv_forward_gemm<int>(s, x, k, epi, stream)
                           : conv_forward_gemm<ptrdiff_t>(s, x, k, epi, stream));
    if (softmax) return pynn_cuda_bias_activation_forward(act, alpha, y, bias, y, M, N, stream);
    return cudaSuccess;
}

extern "C" int pynn_cuda_conv2d_backward(const pynn_conv_shape *s, const float *x,
                                         const float *k, int act, float alpha, const float *pre,
                                         const float *y, const float *dy, float *work,
                                         float *dk, float *db, float *dx, cudaStream_t stream)
{
    if (bad_shape(s)) return cudaErrorInvalidValue;
    const ptrdiff_t P = s->n * s->oh * s->ow;
    const float *grad = dy;
    if (act != PYNN_ACT_LINEAR) {
        if (!work) return cudaErrorInvalidValue;
        PYNN_CHECK(pynn_cuda_activation_backward(act, alpha, pre, y, dy, work, P, s->cout,
                                                 stream));
        grad = work;
    }
    if (db) PYNN_CHECK(pynn_cuda_bias_grad(grad, db, P, s->cout, stream));
    return fits_int(s) ? conv_backward_gemms<int>(s, x, k, grad, dk, dx, stream)
                       : conv_backward_gemms<ptrdiff_t>(s, x, k, grad, dk, dx, stream);
}

extern "C" int pynn_cuda_depthwise_conv2d_forward(const pynn_conv_shape *s, const float *x,
                                                  const float *k, const float *bias, int act,
                                                  float alpha, float *y, cudaStream_t stream)
{
    if (bad_shape(s)) return cudaErrorInvalidValue;
    const ptrdiff_t total = s->n * s->oh * s->ow * s->cin * s->cout;
    if (total == 0) return cudaSuccess;
    const int softmax = act == PYNN_ACT_SOFTMAX;
    PYNN_LAUNCH(depthwise_forward_kernel, grid_for(total), kThreads, stream)(
        x, k, softmax ? nullptr : bias, softmax ? PYNN_ACT_LINEAR : act, alpha, y, *s);
    PYNN_CHECK_LAUNCH();
    if (softmax)
        return pynn_cuda_bias_activation_forward(act, alpha, y, bias, y, s->n * s->oh * s->ow,
                                                 s->cin * s->cout, stream);
    return cudaSuccess;
}

extern "C" int pynn_cuda_depthwise_conv2d_backward(const pynn_conv_shape *s, const float *x,
                                                   const float *k, const float *dy, float *dk,
                                                   float *db, float *dx, cudaStream_t stream)
{
    if (bad_shape(s)) return cudaErrorInvalidValue;
    const ptrdiff_t P = s->n * s->oh * s->ow, channels = s->cin * s->cout;
    if (db) PYNN_CHECK(pynn_cuda_bias_grad(dy, db, P, channels, stream));
    if (dk) {
        const ptrdiff_t weights = s->kh * s->kw * channels;
        if (weights > 0x7FFFFFFF) return cudaErrorInvalidValue;
        if (weights > 0) {
            PYNN_LAUNCH(depthwise_kernel_grad_kernel, dim3((unsigned)weights), kThreads,
                        stream)(x, dy, dk, *s);
            PYNN_CHECK_LAUNCH();
        }
    }
    if (dx) {
        const ptrdiff_t total = s->n * s->h * s->w * s->cin;
        if (total > 0) {
            PYNN_LAUNCH(depthwise_input_grad_kernel, grid_for(total), kThreads, stream)(
                k, dy, dx, *s);
            PYNN_CHECK_LAUNCH();
        }
    }
    return cudaSuccess;
}
