/*
 * pool.cu - max and average pooling over NHWC data and their gradients, with
 * pool.c's semantics: a window is clipped to the input (padding is never
 * part of it), the first maximum in scan order takes the gradient, and a
 * NaN maximum is the window's first pixel.  One thread per output value;
 * the backward passes add each window's share into dx (zeroed first)
 * atomically, since windows may overlap.
 */
#include "cuda_internal.cuh"

using namespace pynn_cuda;

namespace {

struct Window {
    ptrdiff_t y0, y1, x0, x1;
};

__device__ Window window_at(const pynn_pool_shape &s, ptrdiff_t oy, ptrdiff_t ox)
{
    Window w;
    w.y0 = oy * s.sh - s.pad_top;
    w.x0 = ox * s.sw - s.pad_left;
    w.y1 = w.y0 + s.ph < s.h ? w.y0 + s.ph : s.h;
    w.x1 = w.x0 + s.pw < s.w ? w.x0 + s.pw : s.w;
    w.y0 = w.y0 > 0 ? w.y0 : 0;
    w.x0 = w.x0 > 0 ? w.x0 : 0;
    return w;
}

/* Output value i = (b, oy, ox, ch): its window and the offset of its
 * sample's image. */
__device__ void locate(const pynn_pool_shape &s, ptrdiff_t i, Window *w, ptrdiff_t *base,
                       ptrdiff_t *ch)
{
    *ch = i % s.c;
    ptrdiff_t p = i / s.c, ox = p % s.ow, t = p / s.ow, oy = t % s.oh, b = t / s.oh;
    *w = window_at(s, oy, ox);
    *base = b * s.h * s.w * s.c;
}

__global__ void max_forward_kernel(pynn_pool_shape s, const float *x, float *y)
{
    const ptrdiff_t total = s.n * s.oh * s.ow * s.c;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        Window w;
        ptrdiff_t base, ch;
        locate(s, i, &w, &base, &ch);
        float m = x[base + (w.y0 * s.w + w.x0) * s.c + ch];
        for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
            for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                float v = x[base + (iy * s.w + ix) * s.c + ch];
                m = v > m ? v : m;
            }
        y[i] = m;
    }
}

__global__ void max_backward_kernel(pynn_pool_shape s, const float *x, const float *y,
                                    const float *dy, float *dx)
{
    const ptrdiff_t total = s.n * s.oh * s.ow * s.c;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        Window w;
        ptrdiff_t base, ch;
        locate(s, i, &w, &base, &ch);
        float m = y[i];
        ptrdiff_t at = -1;
        for (ptrdiff_t iy = w.y0; iy < w.y1 && at < 0; iy++)
            for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                ptrdiff_t j = base + (iy * s.w + ix) * s.c + ch;
                if (x[j] == m || m != m) {
                    at = j;
                    break;
                }
            }
        if (at >= 0) atomicAdd(dx + at, dy[i]);
    }
}

__global__ void avg_forward_kernel(pynn_pool_shape s, const float *x, float *y)
{
    const ptrdiff_t total = s.n * s.oh * s.ow * s.c;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        Window w;
        ptrdiff_t base, ch;
        locate(s, i, &w, &base, &ch);
        float acc = 0.0f;
        for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
            for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) acc += x[base + (iy * s.w + ix) * s.c + ch];
        ptrdiff_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
        y[i] = count > 0 ? acc / (float)count : 0.0f;
    }
}

__global__ void avg_backward_kernel(pynn_pool_shape s, const float *dy, float *dx)
{
    const ptrdiff_t total = s.n * s.oh * s.ow * s.c;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        Window w;
        ptrdiff_t base, ch;
        locate(s, i, &w, &base, &ch);
        ptrdiff_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
        if (count <= 0) continue;
        float share = dy[i] / (float)count;
        for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
            for (ptrdiff_t ix = w.x0; ix < w.x1; ix++)
                atomicAdd(dx + base + (iy * s.w + ix) * s.c + ch, share);
    }
}

bool bad_shape(const pynn_pool_shape *s)
{
    const ptrdiff_t v[] = {s->n, s->h, s->w, s->c, s->oh, s->ow};
    for (ptrdiff_t d : v)
        if (bad_size(d)) return true;
    if (s->ph < 1 || s->pw < 1 || s->sh < 1 || s->sw < 1) return true;
    return (double)s->n * s->h * s->w * s->c > 1e15 || (double)s->n * s->oh * s->ow * s->c > 1e15;
}

ptrdiff_t outputs(const pynn_pool_shape *s) { return s->n * s->oh * s->ow * s->c; }

/* Windows that start inside the input: a window clipped to nothing would
 * read its "first pixel" outside the image. */
bool windows_inside(const pynn_pool_shape *s)
{
    return (s->oh - 1) * s->sh - s->pad_top < s->h && (s->ow - 1) * s->sw - s->pad_left < s->w &&
           s->pad_top < s->ph && s->pad_left < s->pw;
}

}  // namespace

extern "C" int pynn_cuda_max_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y,
                                            cudaStream_t stream)
{
    if (bad_shape(s) || (outputs(s) > 0 && !windows_inside(s))) return cudaErrorInvalidValue;
    if (outputs(s) == 0) return cudaSuccess;
    PYNN_LAUNCH(max_forward_kernel, grid_for(outputs(s)), kThreads, stream)(*s, x, y);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_max_pool2d_backward(const pynn_pool_shape *s, const float *x,
                                             const float *y, const float *dy, float *dx,
                                             cudaStream_t stream)
{
    if (bad_shape(s) || (outputs(s) > 0 && !windows_inside(s))) return cudaErrorInvalidValue;
    PYNN_CHECK(cudaMemsetAsync(dx, 0, (size_t)(s->n * s->h * s->w * s->c) * sizeof(float),
                               stream));
    if (outputs(s) == 0) return cudaSuccess;
    PYNN_LAUNCH(max_backward_kernel, grid_for(outputs(s)), kThreads, stream)(*s, x, y, dy, dx);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_avg_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y,
                                            cudaStream_t stream)
{
    if (bad_shape(s)) return cudaErrorInvalidValue;
    if (outputs(s) == 0) return cudaSuccess;
    PYNN_LAUNCH(avg_forward_kernel, grid_for(outputs(s)), kThreads, stream)(*s, x, y);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_avg_pool2d_backward(const pynn_pool_shape *s, const float *dy,
                                             float *dx, cudaStream_t stream)
{
    if (bad_shape(s)) return cudaErrorInvalidValue;
    PYNN_CHECK(cudaMemsetAsync(dx, 0, (size_t)(s->n * s->h * s->w * s->c) * sizeof(float),
                               stream));
    if (outputs(s) == 0) return cudaSuccess;
    PYNN_LAUNCH(avg_backward_kernel, grid_for(outputs(s)), kThreads, stream)(*s, dy, dx);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}
