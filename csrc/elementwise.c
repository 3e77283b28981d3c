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

static void dropout_range(const float *x, float *y, uint8_t *mask, uint32_t threshold,
                          float scale, uint64_t base, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        uint32_t r = (uint32_t)(splitmix64(base + (uint64_t)i) >> 40);
        uint8_t keep = r >= threshold;
        mask[i] = keep;
        /* Arithmetic, not a branch: the draws are random, so a branch would
         * be mispredicted half the time. */
        y[i] = x[i] * ((float)keep * scale);
    }
}

void pynn_dropout_forward(const float *x, float *y, uint8_t *mask, ptrdiff_t n,
                          float rate, uint64_t seed)
{
    PYNN_FTZ_SCOPE;
    /* keep when the top 24 bits of the draw, as a fraction, are >= rate */
    uint32_t threshold = (uint32_t)((double)rate * 16777216.0);
    float scale = 1.0f / (1.0f - rate);
    uint64_t base = splitmix64(seed);
    int nt = pynn_threads_for(n * 2);
    PYNN_PARALLEL_RANGE(nt, n, dropout_range(x, y, mask, threshold, scale, base, lo, hi));
}

static void dropout_backward_range(const float *dy, const uint8_t *mask, float *dx,
                                   float scale, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        /* Arithmetic, not a branch on a random mask (see the forward pass). */
        dx[i] = dy[i] * ((float)mask[i] * scale);
    }
}

void pynn_dropout_backward(const float *dy, const uint8_t *mask, float *dx,
                           ptrdiff_t n, float rate)
{
    PYNN_FTZ_SCOPE;
    float scale = 1.0f / (1.0f - rate);
    int nt = pynn_threads_for(n);
    PYNN_PARALLEL_RANGE(nt, n, dropout_backward_range(dy, mask, dx, scale, lo, hi));
}

static void gather_range(const char *s, const int64_t *idx, char *d, ptrdiff_t row_bytes,
                         ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++)
        memcpy(d + i * row_bytes, s + idx[i] * row_bytes, (size_t)row_bytes);
}

void pynn_gather_rows(const void *src, const int64_t *idx, void *dst,
                      ptrdiff_t count, ptrdiff_t row_bytes)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(count * row_bytes / 4);
    PYNN_PARALLEL_RANGE(nt, count, gather_range((const char *)src, idx, (char *)dst,
                                                row_bytes, lo, hi));
}

int pynn_all_finite(const float *x, ptrdiff_t n)
{
    PYNN_FTZ_SCOPE;
    /* x - x is 0 for finite x and NaN for inf/NaN; the sum stays NaN. */
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (ptrdiff_t i = 0; i < n; i++) acc += x[i] - x[i];
    return acc == 0.0f;
}
