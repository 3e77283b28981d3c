/*
 * The emulated CUDA runtime (see include/cuda_runtime_api.h).
 *
 * A block's threads are fibers (ucontext) run one at a time in thread
 * order: each runs until it reaches __syncthreads or ends, then the next.
 * A barrier is complete when every live thread of the block waits at it.
 * A block in which some threads end while others wait at a barrier is a
 * kernel error (on a GPU that deadlocks or is undefined), reported by the
 * next cudaGetLastError.  Running the threads in order finds missing
 * barriers deterministically: a thread that reads shared memory another
 * thread has not written yet reads stale values, and the results differ
 * from the CPU kernels'.
 *
 * Device allocations end right before an inaccessible page, so a kernel
 * that reads or writes past the end of an array faults at once.
 */
#include <cuda_runtime.h>

#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <vector>

namespace pynn_emu {

uint3 thread_index, block_index;
dim3 block_dim, grid_dim;

namespace {

constexpr size_t kStack = 256 * 1024;

struct Fiber {
    ucontext_t ctx;
    char *stack = nullptr;
    bool done = false;
};

ucontext_t scheduler;
std::vector<Fiber> fibers;
size_t current = 0;
const std::function<void()> *body = nullptr;
cudaError_t last_error = cudaSuccess;
long long launches = 0;
std::mutex launch_lock;

void fiber_main()
{
    (*body)();
    fibers[current].done = true;
    swapcontext(&fibers[current].ctx, &scheduler);
}

void set_thread(size_t t)
{
    thread_index.x = (unsigned)(t % block_dim.x);
    thread_index.y = (unsigned)(t / block_dim.x % block_dim.y);
    thread_index.z = (unsigned)(t / (block_dim.x * block_dim.y));
}

/* One block: rounds of running every live fiber to its next barrier. */
bool run_block(size_t threads)
{
    for (size_t t = 0; t < threads; t++) {
        Fiber &f = fibers[t];
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = kStack;
        f.ctx.uc_link = nullptr;
        f.done = false;
        makecontext(&f.ctx, fiber_main, 0);
    }
    for (;;) {
        size_t live = 0, ended = 0;
        for (size_t t = 0; t < threads; t++) {
            if (fibers[t].done) continue;
            current = t;
            set_thread(t);
            swapcontext(&scheduler, &fibers[t].ctx);
            if (fibers[t].done)
                ended++;
            else
                live++;
        }
        if (live == 0) return true;
        if (ended != 0) return false; /* threads ended while others wait at a barrier */
    }
}

}  // namespace

void syncthreads() { swapcontext(&fibers[current].ctx, &scheduler); }

void run_grid(dim3 grid, dim3 block, const std::function<void()> &kernel_body)
{
    std::lock_guard<std::mutex> hold(launch_lock);
    launches++;
    size_t threads = (size_t)block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
        grid.z == 0 || grid.y > 65535 || grid.z > 65535 || grid.x > 0x7FFFFFFFu) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    if (fibers.size() < threads) {
        size_t old = fibers.size();
        fibers.resize(threads);
        for (size_t t = old; t < threads; t++) fibers[t].stack = new char[kStack];
    }
    body = &kernel_body;
    block_dim = block;
    grid_dim = grid;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                block_index.x = x;
                block_index.y = y;
                block_index.z = z;
                if (!run_block(threads)) {
                    last_error = cudaErrorLaunchFailure;
                    return;
                }
            }
}

}  // namespace pynn_emu

/* ----------------------------------------------------------- memory */

namespace {

struct Mapping {
    char *base;
    size_t length;
};
std::mutex memory_lock;
std::map<void *, Mapping> mappings;

size_t page_size() { return (size_t)sysconf(_SC_PAGESIZE); }

}  // namespace

extern "C" {

long long pynn_emu_launches(void) { return pynn_emu::launches; }

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *value, int attr, int device)
{
    if (device != 0) return cudaErrorInvalidDevice;
    switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = 0; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMultiProcessorCount: *value = 1; break;
    default: return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (device != 0) return cudaErrorInvalidDevice;
    strcpy(prop->name, "CUDA emulator (CPU)");
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *version)
{
    *version = 0;
    return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *version)
{
    *version = 0;
    return cudaSuccess;
}
cudaError_t cudaGetLastError(void)
{
    cudaError_t e = pynn_emu::last_error;
    pynn_emu::last_error = cudaSuccess;
    return e;
}
const char *cudaGetErrorName(cudaError_t err)
{
    switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    }
    return "cudaErrorUnknown";
}
const char *cudaGetErrorString(cudaError_t err)
{
    switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorLaunchFailure: return "a block's threads did not all reach a barrier";
    }
    return "unknown error";
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int)
{
    static int the_stream;
    *stream = (cudaStream_t)&the_stream;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaMallocAsync(void **ptr, size_t size, cudaStream_t)
{
    size_t page = page_size();
    size_t body = (size + 15) / 16 * 16;
    size_t pages = (body + page - 1) / page * page;
    char *base = (char *)mmap(nullptr, pages + page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return cudaErrorMemoryAllocation;
    mprotect(base + pages, page, PROT_NONE);
    char *p = base + pages - body;
    /* fresh device memory is not zeroed on a GPU: make reads of it stand out */
    memset(p, 0xFF, body);
    std::lock_guard<std::mutex> hold(memory_lock);
    mappings[p] = Mapping{base, pages + page};
    *ptr = p;
    return cudaSuccess;
}
cudaError_t cudaFreeAsync(void *ptr, cudaStream_t)
{
    std::lock_guard<std::mutex> hold(memory_lock);
    auto it = mappings.find(ptr);
    if (it == mappings.end()) return cudaErrorInvalidValue;
    munmap(it->second.base, it->second.length);
    mappings.erase(it);
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **ptr, size_t size) { return cudaMallocAsync(ptr, size, nullptr); }
cudaError_t cudaFree(void *ptr) { return cudaFreeAsync(ptr, nullptr); }
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int)
{
    *pool = nullptr;
    return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, int, void *) { return cudaSuccess; }
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, int, cudaStream_t)
{
    memmove(dst, src, count);
    return cudaSuccess;
}
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                              size_t width, size_t height, int, cudaStream_t)
{
    if (width > dpitch || width > spitch) return cudaErrorInvalidValue;
    for (size_t r = 0; r < height; r++)
        memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t)
{
    memset(ptr, value, count);
    return cudaSuccess;
}
cudaError_t cudaHostRegister(void *, size_t, unsigned int) { return cudaSuccess; }
cudaError_t cudaHostUnregister(void *) { return cudaSuccess; }

}  // extern "C"
