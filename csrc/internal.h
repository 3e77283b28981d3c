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

#define PYNN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PYNN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
