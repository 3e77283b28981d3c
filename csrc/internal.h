/*
 * internal.h - helpers shared by the kernel files; not part of the C API.
 */
#ifndef PYNN_INTERNAL_H
#define PYNN_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "pynn.h"

/* The most threads a kernel uses: reductions keep one partial per thread
 * in a fixed array of this size. */
#define PYNN_MAX_THREADS 256

/* The clock the team's timing reads, in nanoseconds. */
int64_t pynn_now_ns(void);

/* Threads for `work` scalar operations: the whole team from min_work up,
 * and from hot_min_work up while the team is still awake from the last
 * region (or the caller asked for it: pynn_team_want); one thread below,
 * or for all but very large work while the team has lately been coming
 * late (another process on its cores).  See cpu.c. */
int pynn_team_threads(ptrdiff_t work, ptrdiff_t min_work, ptrdiff_t hot_min_work);
/* Makes the calling thread's next regions fork from hot_min_work up (a
 * plan's run that will use the team several times: its first region wakes
 * it, the others find it awake), until called with 0. */
void pynn_team_want(int on);
/* As pynn_team_threads, for the shortest regions (one sample through a
 * long layer, a few microseconds), which pynn's own quick team runs
 * (pynn_quick_run) where *quick is set on return: whenever OpenMP's team
 * is not spinning from a region of its own.  See cpu.c. */
int pynn_quick_threads(ptrdiff_t work, ptrdiff_t min_work, ptrdiff_t hot_min_work, int *quick);
/* piece(arg, q) for every q in [0, count), on the caller and up to nt - 1
 * threads of the quick team, dealt as pynn_pieces says; a thread that has
 * not started when the caller is done with the pieces takes none.
 * piece must compute each item the same whoever runs it. */
void pynn_quick_run(int nt, ptrdiff_t count, void (*piece)(void *arg, ptrdiff_t q), void *arg);

/* One parallel region's timing: pynn_region_fork before the region,
 * pynn_region_enter at the top of its body on every thread but the
 * caller, pynn_region_join after it.  In a region whose pieces are dealt
 * (pynn_pieces), the caller calls pynn_region_done when it finds none
 * left: a thread that came late then only counts as late if the caller
 * had to wait for it (it took no piece); one that came while pieces were
 * left did its share of what was left. */
typedef struct {
    int64_t fork_ns, done_ns;
    _Atomic int64_t entered_ns;
    int hot;
} pynn_region;
void pynn_region_fork(pynn_region *r);
void pynn_region_enter(pynn_region *r);
void pynn_region_done(pynn_region *r);
void pynn_region_join(pynn_region *r);

/* Threads to use for a loop of `work` scalar operations: one thread below
 * `min_work`, else the whole team (unless it has lately been late). */
static inline int pynn_threads_from(ptrdiff_t work, ptrdiff_t min_work)
{
    return pynn_team_threads(work, min_work, min_work);
}

/* Threads for a loop of `work` scalar operations: one thread below the
 * size where forking a team costs more than it saves. */
static inline int pynn_threads_for(ptrdiff_t work)
{
    return pynn_threads_from(work, 32768);
}

/* The least work at which the forward passes that one sample's predict
 * runs (convolution, pooling) use the team: about 100 us on one core.
 * Between predict calls the team's threads sleep (backend.py's short
 * spin), and waking one costs tens of microseconds, far more when another
 * process holds its core and it waits for a time slice.  Measured on a
 * 2-core AVX2 machine with the other core busy: one MNIST image's 13x13x32
 * -> 64 convolution (321 Ki work) took 93 us on one thread, 179 us on
 * two; its 26x26x32 max pooling (43 Ki) 12 us and 83 us; 8 images' pooling
 * (346 Ki) 73 us and 152 us.  A training batch of 32 is past it. */
#define PYNN_FORWARD_MIN_WORK ((ptrdiff_t)1 << 19)
/* ... and the least while the team is still awake from the last region
 * (the next layer of a forward pass, the next predict of a stream), when
 * forking costs about a microsecond: one MNIST image's 26x26x1 -> 32
 * first layer (52 Ki) and its pooling (43 Ki) take it, the second
 * pooling (13 Ki) not.  On two threads the first layer then takes 4.0
 * us, not 5.4, now that each thread writes the rows it reads next (see
 * pynn_pieces); before, it gained nothing. */
#define PYNN_FORWARD_HOT_MIN_WORK ((ptrdiff_t)1 << 15)

#ifdef _OPENMP
#include <omp.h>
#endif

/* Denormal floats are flushed to zero inside the kernels (and only there:
 * the caller's floating-point state is restored on the way out).  Training
 * drives values such as RMSprop's squared-gradient averages into the
 * denormal range, where each operation on them costs a hundred cycles.
 * PYNN_FTZ_SCOPE; at the top of a block sets FTZ and DAZ for the calling
 * thread until the block ends; every public kernel and every parallel
 * region's body starts with it. */
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
static inline unsigned pynn_ftz_begin(void)
{
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) and DAZ (bit 6) */
    return old;
}
static inline void pynn_ftz_end(unsigned *old) { _mm_setcsr(*old); }
#define PYNN_FTZ_SCOPE                                                         \
    unsigned pynn_ftz_saved_ __attribute__((cleanup(pynn_ftz_end), unused)) = pynn_ftz_begin()
#else
#define PYNN_FTZ_SCOPE ((void)0)
#endif

/* The calling thread's number in its team (0 outside a parallel region). */
static inline int pynn_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

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

/* The pieces of a parallel loop, dealt so that each thread takes the
 * same part of the data in every region: thread t takes the pieces of its
 * share [pieces * t / nt, pieces * (t + 1) / nt) in order, and only when
 * its share is done the pieces left in the others' shares (a thread whose
 * core another process also wants then does fewer of them, and the others
 * do the rest).  A layer's output rows are thus written by the thread that
 * wrote the input rows under them, and read in the next layer by the same
 * thread, from its own cache.  Taken one by one from one counter, a
 * piece's thread changed from call to call, and on a 2-core guest each
 * line another core had written cost about 25 ns to read or overwrite:
 * one image's 13x13x32 -> 64 convolution took 24.1 us on two threads and
 * the pooling before it (on the caller) 2.5 us, against 22.3 and 1.9 us
 * with own shares first.  Each share's counter has a cache line of its
 * own. */
typedef struct {
    _Alignas(64) _Atomic ptrdiff_t next;
} pynn_piece_counter;
typedef struct {
    pynn_piece_counter share[PYNN_MAX_THREADS];
    int nt;
} pynn_pieces;

/* Before the region that deals them: shares for nt threads. */
static inline void pynn_pieces_init(pynn_pieces *p, int nt)
{
    p->nt = nt;
    for (int t = 0; t < nt; t++)
        atomic_store_explicit(&p->share[t].next, 0, memory_order_relaxed);
}

/* The next of `pieces` pieces for thread t, or -1 when none is left; *turn
 * starts at 0 (whose share t is taking from, counted from its own).  One
 * region may deal several loops, one after another with a barrier between
 * them: each thread counts `base` up by each loop's pieces, so that the
 * counters, which only grow, tell the loops apart. */
static inline ptrdiff_t pynn_pieces_take(pynn_pieces *p, ptrdiff_t base, ptrdiff_t pieces,
                                         int t, int *turn)
{
    const int nt = p->nt;
    for (; *turn < nt; (*turn)++) {
        int r = t + *turn;
        if (r >= nt)
            r -= nt;
        ptrdiff_t start = base + pieces * r / nt, end = base + pieces * (r + 1) / nt;
        ptrdiff_t c = atomic_load_explicit(&p->share[r].next, memory_order_relaxed);
        for (;;) {
            ptrdiff_t q = c > start ? c : start;
            if (q >= end)
                break;
            if (atomic_compare_exchange_weak_explicit(&p->share[r].next, &c, q + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                return q - base;
        }
    }
    return -1;
}

/* Runs STMT (which uses lo and hi) over [0, n) on nt threads, or directly
 * when nt is 1: entering an OpenMP parallel region costs about 0.4 us even
 * for one thread, which small batches would pay on every kernel call.
 * [0, n) is cut into a few pieces per thread, dealt as pynn_pieces says.
 * STMT must compute each item the same whatever range holds it. */
#define PYNN_PARALLEL_RANGE(nt, n, STMT)                                       \
    do {                                                                       \
        const ptrdiff_t pynn_items_ = (n);                                     \
        if ((nt) > 1) {                                                        \
            const ptrdiff_t pynn_count_ = PYNN_MIN(pynn_items_, 4 * (ptrdiff_t)(nt)); \
            pynn_pieces pynn_pieces_;                                          \
            pynn_pieces_init(&pynn_pieces_, (nt));                             \
            pynn_region pynn_region_;                                          \
            pynn_region_fork(&pynn_region_);                                   \
            _Pragma("omp parallel num_threads(nt)")                            \
            {                                                                  \
                PYNN_FTZ_SCOPE;                                                \
                int pynn_t_ = pynn_thread_id(), pynn_turn_ = 0;                \
                if (pynn_t_ > 0)                                               \
                    pynn_region_enter(&pynn_region_);                          \
                for (ptrdiff_t pynn_q_;                                        \
                     (pynn_q_ = pynn_pieces_take(&pynn_pieces_, 0, pynn_count_, pynn_t_, \
                                                 &pynn_turn_)) >= 0;) {        \
                    ptrdiff_t lo = pynn_items_ * pynn_q_ / pynn_count_;        \
                    ptrdiff_t hi = pynn_items_ * (pynn_q_ + 1) / pynn_count_;  \
                    STMT;                                                      \
                }                                                              \
                if (pynn_t_ == 0)                                              \
                    pynn_region_done(&pynn_region_);                           \
            }                                                                  \
            pynn_region_join(&pynn_region_);                                   \
        } else {                                                               \
            ptrdiff_t lo = 0, hi = pynn_items_;                                \
            STMT;                                                              \
        }                                                                      \
    } while (0)

/* As PYNN_PARALLEL_RANGE, but one fixed share per thread: for work whose
 * pieces must stay large (a recurrent layer's rows, multiplied at every
 * time step by products that lose speed with fewer rows). */
#define PYNN_PARALLEL_SHARES(nt, n, STMT)                                      \
    do {                                                                       \
        if ((nt) > 1) {                                                        \
            pynn_region pynn_region_;                                          \
            pynn_region_fork(&pynn_region_);                                   \
            _Pragma("omp parallel num_threads(nt)")                            \
            {                                                                  \
                PYNN_FTZ_SCOPE;                                                \
                if (pynn_thread_id() > 0)                                      \
                    pynn_region_enter(&pynn_region_);                          \
                ptrdiff_t lo, hi;                                              \
                pynn_thread_range((n), &lo, &hi);                              \
                STMT;                                                          \
            }                                                                  \
            pynn_region_join(&pynn_region_);                                   \
        } else {                                                               \
            ptrdiff_t lo = 0, hi = (n);                                        \
            STMT;                                                              \
        }                                                                      \
    } while (0)

/* The GEMM's inner kernels (gemm_kernels.c), one set per instruction set.
 * micro: C[mr x nr] = alpha * (packed A panel)(packed B panel) + beta * C
 * over kc steps, mr <= MR and nr <= NR of the set; A panels are MR floats
 * per step, B panels NR floats.
 * direct: C[0:m, j0:j1] = alpha * A B + beta * C for few rows, B row-major.
 * rows: micro's product with A read in place, mr rows of a row-major A
 * lda apart, and B's NR columns ldb apart a step: a packed panel (ldb =
 * NR) or a whole panel of a row-major B read in place (NULL in sets
 * without one). */
#define PYNN_GEMM_MR_MAX 8
#define PYNN_GEMM_NR_MAX 32
typedef void (*pynn_micro_kernel)(ptrdiff_t kc, const float *a, const float *b, float *c,
                                  ptrdiff_t ldc, int mr, int nr, float alpha, float beta);
typedef void (*pynn_direct_kernel)(ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k,
                                   float alpha, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                                   const float *b, ptrdiff_t ldb, float beta, float *c,
                                   ptrdiff_t ldc);
typedef void (*pynn_rows_kernel)(ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b,
                                 ptrdiff_t ldb, float *c, ptrdiff_t ldc, int mr, int nr,
                                 float alpha, float beta);
typedef struct {
    int mr, nr; /* the micro-kernel's tile */
    pynn_micro_kernel micro;
    pynn_direct_kernel direct;
    pynn_rows_kernel rows;
    /* The most rows the direct kernel takes where B holds more than
     * PYNN_GEMM_STREAM_MIN floats (up to 4 rows it takes any B). */
    int stream_rows;
    /* Block sizes: rows of A packed at a time (a multiple of mr), the
     * depth of a k slice (at most PYNN_GEMM_KC_MAX) and the columns of B
     * packed at a time (a multiple of nr). */
    ptrdiff_t mc, kc, nc;
} pynn_gemm_kernel_set;

/* A B of more floats than this (1 MiB: twice a Zen 3's L2) comes from L3
 * or memory at every call: the direct kernels stream it row by row. */
#define PYNN_GEMM_STREAM_MIN ((ptrdiff_t)1 << 18)

/* The deepest k slice: packed B panels sit this many steps apart. */
#define PYNN_GEMM_KC_MAX 320

/* The set for an instruction-set level (enum pynn_cpu_level). */
const pynn_gemm_kernel_set *pynn_gemm_kernels(int level);
/* Sets the block sizes from the data cache sizes in bytes (0: unknown);
 * called once by pynn_cpu_init. */
void pynn_gemm_kernels_init(size_t l1d, size_t l2);

/* pynn_sgemm on the calling thread only: for kernels that already split
 * their work across the team and multiply inside each thread's share. */
void pynn_sgemm_serial(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc);

/* B packed once for many products on the calling thread (a recurrent
 * layer's weights, multiplied at every time step).  B is k x n, row-major;
 * pynn_gemm_packed_b_floats is the packed size, or 0 when k is too deep to
 * pack in one piece (then pass packed_b NULL).  The layout is the kernel
 * set's, so pack and multiply in the same process. */
size_t pynn_gemm_packed_b_floats(ptrdiff_t k, ptrdiff_t n);
void pynn_gemm_pack_b(ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *packed);
/* C = A B + beta C (A m x k row-major) from B's packed form, or from b
 * itself when packed_b is NULL; n may be less than the packed width (the
 * first n columns). */
void pynn_sgemm_packed_b_serial(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a,
                                ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                                const float *packed_b, float beta, float *c, ptrdiff_t ldc);

/* A 64-byte aligned work buffer of at least `floats` floats, one per slot
 * and thread, kept between calls (NULL if it cannot be allocated).  A
 * slot's contents are only valid until the same thread asks for it again. */
enum {
    PYNN_SCRATCH_GEMM_A,
    PYNN_SCRATCH_GEMM_B,
    PYNN_SCRATCH_COLS,    /* im2col columns */
    PYNN_SCRATCH_PARTIAL, /* a thread's partial weight gradient */
    PYNN_SCRATCH_GRAD,    /* a group's gradient through the activation */
    PYNN_SCRATCH_WINO_U,  /* a Winograd kernel transform, read by the team */
    PYNN_SCRATCH_WINO,    /* a Winograd strip's transformed tiles */
    PYNN_SCRATCH_WINO_DU, /* a Winograd kernel gradient's transformed sums */
    PYNN_SCRATCH_SLOTS
};
float *pynn_scratch(int slot, size_t floats);

/* Max pooling whose windows never overlap and lie inside the input (see
 * pool.c): pynn_max_pool_route writes dx of samples [n0, n1) from dy, as
 * pynn_max_pool2d_backward does (the convolution before it takes it one
 * sample at a time, see pynn_conv2d_pooled_backward). */
int pynn_pool_windows_disjoint(const pynn_pool_shape *s);
void pynn_max_pool_route(const pynn_pool_shape *s, const float *x, const float *y,
                         const float *dy, float *dx, ptrdiff_t n0, ptrdiff_t n1);

/* y = act(x + bias) over rows [i0, i1) of a matrix with `cols` columns, on
 * the calling thread (activation.c). */
void pynn_bias_activation_rows(int act, float alpha, const float *x, const float *bias,
                               float *y, ptrdiff_t cols, ptrdiff_t i0, ptrdiff_t i1);

/* dx = dy * act'(.) over rows [i0, i1), on the calling thread. */
void pynn_activation_backward_rows(int act, float alpha, const float *x, const float *y,
                                   const float *dy, float *dx, ptrdiff_t cols, ptrdiff_t i0,
                                   ptrdiff_t i1);

/* Defines `LINKAGE void NAME PARAMS`, which runs BODY ARGS compiled for
 * the CPU's instruction-set level (pynn_cpu_level): BODY, an always_inline
 * function, is compiled once per level so the compiler vectorizes each copy
 * at that level's width, and the copy is picked at run time like the GEMM's
 * kernels.  LINKAGE is static or empty. */
#if defined(__x86_64__) || defined(__i386__)
#define PYNN_PER_LEVEL(LINKAGE, NAME, BODY, PARAMS, ARGS)                       \
    static void NAME##_generic PARAMS { BODY ARGS; }                            \
    __attribute__((target("avx2,fma"))) static void NAME##_avx2 PARAMS { BODY ARGS; } \
    __attribute__((target("avx512f"))) static void NAME##_avx512 PARAMS { BODY ARGS; } \
    LINKAGE void NAME PARAMS                                                    \
    {                                                                           \
        int level_ = pynn_cpu_level();                                          \
        if (level_ >= PYNN_CPU_AVX512)                                          \
            NAME##_avx512 ARGS;                                                 \
        else if (level_ >= PYNN_CPU_AVX2)                                       \
            NAME##_avx2 ARGS;                                                   \
        else                                                                    \
            NAME##_generic ARGS;                                                \
    }
#else
#define PYNN_PER_LEVEL(LINKAGE, NAME, BODY, PARAMS, ARGS)                       \
    LINKAGE void NAME PARAMS { BODY ARGS; }
#endif

/* Vectorizable math shared by the kernels that apply activations
 * (activation.c, recurrent.c).  Bit-level helpers first: float selects (c ? a : b on a float compare) keep a
 * branch under GCC's default floating-point model and stop the loop from
 * vectorizing; the same select through integer masks does not. */
typedef union {
    float f;
    int32_t i;
} pynn_f32_bits;

/* a where mask is all ones, b where it is zero. */
static inline float pynn_pick(int32_t mask, float a, float b)
{
    pynn_f32_bits ua = {.f = a}, ub = {.f = b}, r;
    r.i = (ua.i & mask) | (ub.i & ~mask);
    return r.f;
}

static inline int32_t pynn_mask_of(int c) { return -(int32_t)c; }

/* e^x, to about 1 ulp, in straight-line float and integer arithmetic that
 * the compiler vectorizes (libm's expf is a call per element): x = n ln2 + r
 * with |r| <= ln2/2 (ln2 split in two for an exact reduction), e^r from its
 * degree-6 minimax polynomial (Cephes), 2^n put into the exponent bits.
 * Arguments are clamped to where e^x is a normal float; a NaN stays NaN. */
static inline float pynn_exp_vec(float x)
{
    /* The comparisons send a NaN to the lower bound, so the conversion to
     * int below never sees one (undefined behaviour); it is put back at
     * the end. */
    float x0 = x;
    x = pynn_pick(pynn_mask_of(x >= -87.3f), x, -87.3f);
    x = pynn_pick(pynn_mask_of(x <= 88.37f), x, 88.37f);
    float t = x * 1.44269504088896341f + 0.5f;
    int32_t n = (int32_t)t;
    n -= (int32_t)((float)n > t); /* floor */
    float f = (float)n;
    float r = x - f * 0.693359375f + f * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * (r * r) + r + 1.0f;
    pynn_f32_bits scale = {.i = (int32_t)((uint32_t)(n + 127) << 23)};
    return pynn_pick(pynn_mask_of(x0 != x0), x0, e * scale.f);
}

static inline float pynn_sigmoid_vec(float x)
{
    /* Stable on both tails: exp of a non-positive number only. */
    float e = pynn_exp_vec(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return pynn_pick(pynn_mask_of(x >= 0.0f), s, e * s);
}

/* tanh to about 1 ulp, vectorizable: an odd polynomial near 0 (Cephes),
 * 1 - 2 / (e^2|x| + 1) elsewhere, both computed and one selected. */
static inline float pynn_tanh_vec(float x)
{
    float a = fabsf(x), z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float big = copysignf(1.0f - 2.0f / (pynn_exp_vec(2.0f * a) + 1.0f), x);
    return pynn_pick(pynn_mask_of(a < 0.625f), small, big);
}

/* *out = a * b for sizes; nonzero (and *out untouched) when either is
 * negative or the product overflows.  Kernels check the size products of
 * their shapes with it before using them. */
static inline int pynn_mul_size(ptrdiff_t a, ptrdiff_t b, ptrdiff_t *out)
{
    ptrdiff_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
        return 1;
    *out = r;
    return 0;
}

/* The product of `count` sizes (nonzero return on a negative size or an
 * overflow, as pynn_mul_size). */
static inline int pynn_size_product(const ptrdiff_t *sizes, int count, ptrdiff_t *out)
{
    ptrdiff_t r = 1;
    for (int i = 0; i < count; i++)
        if (pynn_mul_size(r, sizes[i], &r))
            return 1;
    *out = r;
    return 0;
}

/* a * b saturated at PTRDIFF_MAX (a and b >= 0): for work estimates, which
 * only decide the thread count, of products that may exceed the range. */
static inline ptrdiff_t pynn_work(ptrdiff_t a, ptrdiff_t b)
{
    ptrdiff_t r;
    return __builtin_mul_overflow(a, b, &r) ? PTRDIFF_MAX : r;
}

#define PYNN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PYNN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
