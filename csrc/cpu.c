/* cpu.c - CPU feature detection and the thread count. */
#include "pynn.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int g_initialized = 0;

/* The size in bytes of the level-1 data or level-2 cache, 0 if unknown
 * (glibc reads it from CPUID; other C libraries may not). */
static size_t cache_size(int level)
{
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    long bytes = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : _SC_LEVEL2_CACHE_SIZE);
    return bytes > 0 ? (size_t)bytes : 0;
#else
    (void)level;
    return 0;
#endif
}

static int g_level = PYNN_CPU_GENERIC;
static int g_threads = 1;

void pynn_cpu_init(void)
{
    if (g_initialized)
        return;
    const char *force = getenv("PYNN_CPU");
    int cap = PYNN_CPU_AVX512;
    if (force && strcmp(force, "generic") == 0)
        cap = PYNN_CPU_GENERIC;
    else if (force && strcmp(force, "avx2") == 0)
        cap = PYNN_CPU_AVX2;
    int level = PYNN_CPU_GENERIC;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* libgcc's checks include the OS's support for the register state. */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        level = PYNN_CPU_AVX2;
        if (__builtin_cpu_supports("avx512f"))
            level = PYNN_CPU_AVX512;
    }
#endif
    g_level = level < cap ? level : cap;
    pynn_gemm_kernels_init(cache_size(1), cache_size(2));
#ifdef _OPENMP
    /* omp_get_max_threads honours OMP_NUM_THREADS. */
    g_threads = omp_get_max_threads();
#endif
    if (g_threads < 1)
        g_threads = 1;
    g_initialized = 1;
}

int pynn_cpu_level(void) { return g_level; }

const char *pynn_cpu_simd_level(void)
{
    static const char *names[] = {"generic", "avx2+fma", "avx512f"};
    return names[g_level];
}

int pynn_get_num_threads(void) { return g_threads; }

void pynn_set_num_threads(int n)
{
    g_threads = n < 1 ? 1 : n;
}

int pynn_have_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
