/*
 * The emulator's cuda_runtime.h: the runtime API plus what device code
 * uses (qualifiers, built-in indices, __syncthreads, atomics) and the
 * launcher behind PYNN_LAUNCH.  See cuda_runtime_api.h.
 */
#ifndef PYNN_EMU_CUDA_RUNTIME_H
#define PYNN_EMU_CUDA_RUNTIME_H

#include "cuda_runtime_api.h"

#ifdef __cplusplus
#include <math.h>

#include <functional>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

namespace pynn_emu {

extern uint3 thread_index, block_index;
extern dim3 block_dim, grid_dim;

/* Runs body once per thread of every block of the grid (blocks in order,
 * the threads of a block as fibers). */
void run_grid(dim3 grid, dim3 block, const std::function<void()> &body);
void syncthreads();

template <typename Kernel>
struct Launch {
    Kernel kernel;
    dim3 grid, block;
    template <typename... Args>
    void operator()(Args &&...args) const
    {
        Kernel k = kernel;
        run_grid(grid, block, [&]() { k(args...); });
    }
};

template <typename Kernel>
Launch<Kernel> launch(Kernel kernel, dim3 grid, dim3 block)
{
    return Launch<Kernel>{kernel, grid, block};
}

}  // namespace pynn_emu

#define threadIdx (pynn_emu::thread_index)
#define blockIdx (pynn_emu::block_index)
#define blockDim (pynn_emu::block_dim)
#define gridDim (pynn_emu::grid_dim)
#define __syncthreads() pynn_emu::syncthreads()

#define PYNN_LAUNCH(kernel, grid, block, stream) \
    ((void)(stream), pynn_emu::launch((kernel), dim3(grid), dim3(block)))

/* One fiber runs at a time: plain read-modify-writes are atomic here. */
inline float atomicAdd(float *p, float v)
{
    float old = *p;
    *p = old + v;
    return old;
}
inline double atomicAdd(double *p, double v)
{
    double old = *p;
    *p = old + v;
    return old;
}
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v)
{
    unsigned long long old = *p;
    *p = old + v;
    return old;
}
#endif

#endif
