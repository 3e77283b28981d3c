/*
 * internal.h - helpers shared by the kernel files; not part of the C API.
 */
#ifndef PYNN_INTERNAL_H
#define PYNN_INTERNAL_H

#include <stddef.h>

/* Threads to use for a loop of `work` scalar operations: one thread below
 * the size where forking a team costs more than it saves. */
static inline int pynn_threads_for(ptrdiff_t work)
{
    extern int pynn_get_num_threads(void);
    int t = pynn_get_num_threads();
    if (work < 32768)
        return 1;
    return t;
}

#ifdef _OPENMP
#include <omp.h>
#endif

/* The share [*lo, *hi) of n items for the calling thread of a team. */
static inline void pynn_thread_range(ptrdiff_t n, ptrdiff_t *lo, ptrdiff_t *hi)
{
#ifdef _OPENMP
    ptrdiff_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    ptrdiff_t t = 0, nt = 1;
#endif
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* Runs STMT (which uses lo and hi) over [0, n) on nt threads, or directly
 * when nt is 1: entering an OpenMP parallel region costs about 0.4 us even
 * for one thread, which small batches would pay on every kernel call. */
#define PYNN_PARALLEL_RANGE(nt, n, STMT)                                       \
    do {                                                                       \
        if ((nt) > 1) {                                                        \
            _Pragma("omp parallel num_threads(nt)")                            \
            {                                                                  \
                ptrdiff_t lo, hi;                                              \
                pynn_thread_range((n), &lo, &hi);                              \
                STMT;                                                          \
            }                                                                  \
        } else {                                                               \
            ptrdiff_t lo = 0, hi = (n);                                        \
            STMT;                                                              \
        }                                                                      \
    } while (0)

#define PYNN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PYNN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
