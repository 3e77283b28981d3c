/* elementwise.c - dropout, row gathers for batching, finiteness checks. */
#include "pynn.h"
#include "internal.h"

#include <math.h>
#include <string.h>

/* splitmix64: a counter-based generator, so each element's draw depends only
 * on (seed, index) and the result is the same for any thread count. */
static inline uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void pynn_dropout_forward(const float *x, float *y, uint8_t *mask, ptrdiff_t n,
                          float rate, uint64_t seed)
{
    /* keep when the top 24 bits of the draw, as a fraction, are >= rate */
    uint32_t threshold = (uint32_t)((double)rate * 16777216.0);
    float scale = 1.0f / (1.0f - rate);
    uint64_t base = splitmix64(seed);
#pragma omp parallel for schedule(static) num_threads(pynn_threads_for(n * 2))
    for (ptrdiff_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)(splitmix64(base + (uint64_t)i) >> 40);
        uint8_t keep = r >= threshold;
        mask[i] = keep;
        y[i] = keep ? x[i] * scale : 0.0f;
    }
}

void pynn_dropout_backward(const float *dy, const uint8_t *mask, float *dx,
                           ptrdiff_t n, float rate)
{
    float scale = 1.0f / (1.0f - rate);
#pragma omp parallel for simd schedule(static) num_threads(pynn_threads_for(n))
    for (ptrdiff_t i = 0; i < n; i++) dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}

void pynn_gather_rows(const void *src, const int64_t *idx, void *dst,
                      ptrdiff_t count, ptrdiff_t row_bytes)
{
    const char *s = (const char *)src;
    char *d = (char *)dst;
#pragma omp parallel for schedule(static) num_threads(pynn_threads_for(count * row_bytes / 4))
    for (ptrdiff_t i = 0; i < count; i++)
        memcpy(d + i * row_bytes, s + idx[i] * row_bytes, (size_t)row_bytes);
}

int pynn_all_finite(const float *x, ptrdiff_t n)
{
    /* x - x is 0 for finite x and NaN for inf/NaN; the sum stays NaN. */
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (ptrdiff_t i = 0; i < n; i++) acc += x[i] - x[i];
    return acc == 0.0f;
}
