/* cpu.c - CPU feature detection and the thread count. */
#include "pynn.h"
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* ------------------------------------------------------------------
 * When the team is worth waking.
 *
 * Between parallel regions the team's other threads spin a short while
 * (GOMP_SPINCOUNT, set by backend.py) and then sleep.  A region forked
 * while they spin costs about a microsecond; one that has to wake them
 * costs tens of microseconds (a sleeping virtual CPU: 25-50 us measured
 * on a 2-core Zen 4 guest), and the caller then also waits at the
 * region's end for the last of them.  When another process holds their
 * core, they enter late by up to a time slice, and a product that takes
 * 80 us on the caller alone took 170 us forked.
 *
 * So every region is timed: the fork is stamped where the thread count
 * is decided, each other thread stamps its entry, and the join reads how
 * late they came.  Work too small to pay for a wake-up forks only while
 * the team still spins (a region ended less than team_hot_ns ago), and
 * when threads came late to a region that should have found them
 * spinning (or very late to any region), moderate work runs on the
 * caller alone for a while before the team is tried again: 2 ms after a
 * late region that comes alone (a virtual CPU's hiccup on a quiet
 * machine: a fixed 20 ms put the next 500 one-image convnet predicts of
 * a stream on one thread), twice the last wait when
 * another comes soon after it ended (a neighbour holding a core: the
 * wait grows to 64 ms in five steps, and each try costs one late region).
 */
#define TEAM_SLOW_MIN_NS ((int64_t)2000000)
#define TEAM_SLOW_MAX_NS ((int64_t)64000000)
static _Atomic int64_t g_team_end_ns;  /* when the last region joined */
static _Atomic int64_t g_team_slow_until_ns;
static _Atomic int64_t g_team_slow_ns = TEAM_SLOW_MIN_NS; /* the last wait */
#define TEAM_STREAM_GAP_NS ((int64_t)100000)
#define TEAM_STREAM_CALLS 8
#define TEAM_STREAM_CALLS_MAX 1024
static _Atomic int64_t g_team_serial_ns; /* the last moderate work kept on the caller */
static _Atomic int g_team_serial_run;    /* how many came in a row */
static _Atomic int g_team_stream_calls = TEAM_STREAM_CALLS; /* how many wake the team */
static _Atomic int g_team_stream_woke;   /* the last fork was such a wake-up */
static int64_t g_team_hot_ns = 10000;  /* how long the team spins, less a margin */
static _Thread_local int tl_team_wanted;

int64_t pynn_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One pause of a spinning thread (libgomp's spin and the quick team's). */
static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* The time the idle threads spin: GOMP_SPINCOUNT pause instructions (the
 * count backend.py sets unless the user chose), each timed here, as a
 * pause takes 3 ns on some CPUs and 40 on others.  Half of it is taken as
 * the window in which the team is still awake, for the margin. */
static void team_calibrate(void)
{
    const char *spin = getenv("GOMP_SPINCOUNT");
    const char *policy = getenv("OMP_WAIT_POLICY");
    char *unit = NULL;
    double count = spin ? strtod(spin, &unit) : 300000.0;
    if (spin && strncmp(spin, "inf", 3) == 0)
        count = 1e12;
    else if (unit && (*unit == 'k' || *unit == 'K'))
        count *= 1e3;
    else if (unit && *unit == 'M')
        count *= 1e6;
    if (policy && (policy[0] == 'p' || policy[0] == 'P'))
        count = 0;
    else if (policy && (policy[0] == 'a' || policy[0] == 'A') && !spin)
        count = 1e12;
    int64_t t0 = pynn_now_ns();
    for (int i = 0; i < 256; i++)
        cpu_pause();
    int64_t per_256 = pynn_now_ns() - t0;
    double spin_ns = count * (double)per_256 / 256.0;
    g_team_hot_ns = spin_ns / 2 > 200000 ? 200000 : (int64_t)(spin_ns / 2);
}

void pynn_team_want(int on) { tl_team_wanted = on; }

/* pynn_team_threads for the team whose last region ended at *end_ns. */
static int team_threads(ptrdiff_t work, ptrdiff_t min_work, ptrdiff_t hot_min_work,
                        _Atomic int64_t *end_ns)
{
    int nt = g_threads < PYNN_MAX_THREADS ? g_threads : PYNN_MAX_THREADS;
    if (nt <= 1 || work < hot_min_work)
        return 1;
    int64_t now = pynn_now_ns();
    if (now < atomic_load_explicit(&g_team_slow_until_ns, memory_order_relaxed))
        return work / 8 >= min_work ? nt : 1;
    if (work >= min_work || tl_team_wanted)
        return nt;
    int woke = atomic_exchange_explicit(&g_team_stream_woke, 0, memory_order_relaxed);
    if (now - atomic_load_explicit(end_ns, memory_order_relaxed) < g_team_hot_ns) {
        if (woke)
            atomic_store_explicit(&g_team_stream_calls, TEAM_STREAM_CALLS, memory_order_relaxed);
        return nt;
    }
    /* A stream of moderate work on the caller alone (112^3 products back
     * to back: none forks, so the team is never found awake): the
     * eighth of them in a row, each within TEAM_STREAM_GAP_NS of the one
     * before, wakes the team, and those after it find it awake (112^3 on
     * two threads: 0.82x NumPy's time before, 1.2x after).  Where the
     * next one then did not find it awake (calls spaced wider than the
     * team spins), twice as many are needed before the next try. */
    int need = atomic_load_explicit(&g_team_stream_calls, memory_order_relaxed);
    if (woke) {
        need = need < TEAM_STREAM_CALLS_MAX ? 2 * need : need;
        atomic_store_explicit(&g_team_stream_calls, need, memory_order_relaxed);
    }
    int64_t last = atomic_exchange_explicit(&g_team_serial_ns, now, memory_order_relaxed);
    if (now - last >= TEAM_STREAM_GAP_NS) {
        atomic_store_explicit(&g_team_serial_run, 0, memory_order_relaxed);
        return 1;
    }
    if (atomic_fetch_add_explicit(&g_team_serial_run, 1, memory_order_relaxed) + 1 < need)
        return 1;
    atomic_store_explicit(&g_team_serial_run, 0, memory_order_relaxed);
    atomic_store_explicit(&g_team_stream_woke, 1, memory_order_relaxed);
    return nt;
}

int pynn_team_threads(ptrdiff_t work, ptrdiff_t min_work, ptrdiff_t hot_min_work)
{
    return team_threads(work, min_work, hot_min_work, &g_team_end_ns);
}

/* A region whose caller waited too long for another thread: moderate
 * work stays on the caller for a while (see above). */
static void team_was_late(int64_t now)
{
    int64_t until = atomic_load_explicit(&g_team_slow_until_ns, memory_order_relaxed);
    int64_t wait = atomic_load_explicit(&g_team_slow_ns, memory_order_relaxed);
    wait = now - until < 2 * wait ? PYNN_MIN(2 * wait, TEAM_SLOW_MAX_NS) : TEAM_SLOW_MIN_NS;
    atomic_store_explicit(&g_team_slow_ns, wait, memory_order_relaxed);
    atomic_store_explicit(&g_team_slow_until_ns, now + wait, memory_order_relaxed);
}

void pynn_region_fork(pynn_region *r)
{
    r->fork_ns = pynn_now_ns();
    r->done_ns = 0;
    r->hot = r->fork_ns - atomic_load_explicit(&g_team_end_ns, memory_order_relaxed) <
             g_team_hot_ns;
    atomic_store_explicit(&r->entered_ns, r->fork_ns, memory_order_relaxed);
}

void pynn_region_enter(pynn_region *r)
{
    int64_t now = pynn_now_ns();
    int64_t seen = atomic_load_explicit(&r->entered_ns, memory_order_relaxed);
    while (seen < now && !atomic_compare_exchange_weak_explicit(
                             &r->entered_ns, &seen, now, memory_order_relaxed,
                             memory_order_relaxed)) {
    }
}

void pynn_region_done(pynn_region *r) { r->done_ns = pynn_now_ns(); }

void pynn_region_join(pynn_region *r)
{
    int64_t now = pynn_now_ns();
    int64_t entered = atomic_load_explicit(&r->entered_ns, memory_order_relaxed);
    /* Late: the others did less than half of the region's time, having
     * come 20 us late to a team that should have been spinning, or
     * 200 us late to a sleeping one (a sleeping team's wake-up alone
     * takes tens of microseconds on some machines).  Where pieces were
     * dealt, what counts is how long the caller, its pieces all done,
     * waited for a thread that took none (b32 convnet predicts on a host
     * that let the second virtual CPU start each region 16-42 us late:
     * counted from the fork, most of their regions were late, and the
     * next ones ran on the caller alone). */
    int64_t late = r->done_ns ? entered - r->done_ns : entered - r->fork_ns;
    if (2 * late > now - r->fork_ns && late > (r->hot ? 20000 : 200000))
        team_was_late(now);
    atomic_store_explicit(&g_team_end_ns, now, memory_order_relaxed);
}

/* ------------------------------------------------------------------
 * The quick team, for the shortest regions.
 *
 * Forking an OpenMP region and joining it costs about 1.1 us on a 2-core
 * Zen 4 guest even while the team spins (libgomp's team start and its
 * closing barrier); handing work to a spinning thread through one cache
 * line and seeing it done through another costs 0.4 us.  One sample
 * through a 784 x 128 layer takes 3.5 us on one core, so most of what a
 * second thread saved went to libgomp's fork and join.  Such regions run
 * on nt - 1 threads of pynn's own, which wait on a counter of posts
 * (spinning as long as OpenMP's threads do, then asleep on a futex).
 * Each has a slot: the caller posts the work to every slot, does its own
 * pieces, then takes back the slots of threads that have not started
 * (they take no piece) and waits only for those that did.  A thread
 * whose core another process holds thus never holds up the caller; one
 * that should have been spinning and did not start in time counts as
 * late, as an OpenMP region's (team_was_late).  No lock is taken on the
 * caller's side: a waker that had to take one waited, on a busy machine,
 * for a sleeper that had lost its core while holding it (42 us predicts).
 * The quick team is used only while OpenMP's is not spinning
 * (pynn_quick_threads): two teams spinning at once on the same cores
 * would take turns at the scheduler's pace.  Linux only (the futex);
 * elsewhere such regions stay with OpenMP. */
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#define QUICK_TEAM 1
#else
#define QUICK_TEAM 0
#endif

#if QUICK_TEAM
enum { QUICK_IDLE, QUICK_POSTED, QUICK_RUNNING, QUICK_DONE };
typedef struct {
    _Alignas(64) _Atomic int state;
} quick_slot;
static struct {
    _Alignas(64) _Atomic uint32_t posts; /* counts the posts (a futex word) */
    _Alignas(64) _Atomic int sleepers;
    int threads; /* started, slots 1 to threads */
    /* the posted work, read by a thread that took its slot (RUNNING) */
    void (*piece)(void *, ptrdiff_t);
    void *arg;
    ptrdiff_t count;
    pynn_pieces *pieces;
    quick_slot slot[PYNN_MAX_THREADS];
} g_quick;
/* One caller at a time (it alone starts threads and posts): a second
 * caller (another Python thread's predict) runs its pieces alone. */
static _Atomic int g_quick_busy;
/* when every thread last took part (so should now be spinning), and
 * how many runs since then missed one that should have been */
static _Atomic int64_t g_quick_joined_ns;
static int g_quick_misses;
#endif
static _Atomic int64_t g_quick_end_ns;

#if QUICK_TEAM
/* Thread t's pieces of the posted work, then every piece left. */
static void quick_take(int t)
{
    PYNN_FTZ_SCOPE;
    int turn = 0;
    for (ptrdiff_t q; (q = pynn_pieces_take(g_quick.pieces, 0, g_quick.count, t, &turn)) >= 0;)
        g_quick.piece(g_quick.arg, q);
}

/* The next post after `seen`: spun for as long as OpenMP's threads spin
 * (twice the window in which its team counts as awake), then asleep.
 * (The sleepers' count and the posts are sequentially consistent: either
 * the poster sees this thread asleep, or this thread sees the post.) */
static uint32_t quick_wait(uint32_t seen)
{
    int64_t spin_until = pynn_now_ns() + 2 * g_team_hot_ns;
    for (int i = 1;; i++) {
        uint32_t p = atomic_load_explicit(&g_quick.posts, memory_order_acquire);
        if (p != seen)
            return p;
        cpu_pause();
        if ((i & 63) == 0 && pynn_now_ns() > spin_until)
            break;
    }
    atomic_fetch_add(&g_quick.sleepers, 1);
    uint32_t p;
    while ((p = atomic_load(&g_quick.posts)) == seen)
        syscall(SYS_futex, &g_quick.posts, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    atomic_fetch_sub(&g_quick.sleepers, 1);
    return p;
}

static void *quick_thread(void *arg)
{
    const int t = (int)(intptr_t)arg;
    _Atomic int *state = &g_quick.slot[t].state;
    uint32_t seen = atomic_load(&g_quick.posts);
    for (;;) {
        seen = quick_wait(seen);
        int posted = QUICK_POSTED;
        if (atomic_compare_exchange_strong_explicit(state, &posted, QUICK_RUNNING,
                                                    memory_order_acquire,
                                                    memory_order_relaxed)) {
            quick_take(t);
            atomic_store_explicit(state, QUICK_DONE, memory_order_release);
        }
    }
    return NULL;
}

/* In a child forked from a process that had a quick team: no thread
 * came along, so it starts anew. */
static void quick_forked_child(void)
{
    g_quick.threads = 0;
    atomic_store(&g_quick.sleepers, 0);
    for (int t = 0; t < PYNN_MAX_THREADS; t++)
        atomic_store(&g_quick.slot[t].state, QUICK_IDLE);
    atomic_store(&g_quick_busy, 0);
}

/* Starts threads up to nt - 1 (with every signal blocked: they are the
 * caller's to take); returns how many there are.  Called by the one
 * caller holding g_quick_busy. */
static int quick_start(int nt)
{
    static int atfork_set;
    if (!atfork_set)
        atfork_set = !pthread_atfork(NULL, NULL, quick_forked_child);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)1 << 20);
    while (g_quick.threads < nt - 1 && g_quick.threads < PYNN_MAX_THREADS - 1) {
        pthread_t id;
        if (pthread_create(&id, &attr, quick_thread, (void *)(intptr_t)(g_quick.threads + 1)))
            break;
        g_quick.threads++;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return g_quick.threads;
}
#endif

int pynn_quick_threads(ptrdiff_t work, ptrdiff_t min_work, ptrdiff_t hot_min_work, int *quick)
{
    *quick = QUICK_TEAM && pynn_now_ns() - atomic_load_explicit(&g_team_end_ns,
                                                                memory_order_relaxed) >=
                               g_team_hot_ns;
    return team_threads(work, min_work, hot_min_work, *quick ? &g_quick_end_ns : &g_team_end_ns);
}

void pynn_quick_run(int nt, ptrdiff_t count, void (*piece)(void *, ptrdiff_t), void *arg)
{
    int helpers = 0;
#if QUICK_TEAM
    if (nt > 1 && !atomic_exchange_explicit(&g_quick_busy, 1, memory_order_acquire)) {
        helpers = g_quick.threads < nt - 1 ? quick_start(nt) : nt - 1;
        helpers = PYNN_MIN(helpers, nt - 1);
        if (!helpers)
            atomic_store_explicit(&g_quick_busy, 0, memory_order_release);
    }
#endif
    if (!helpers) {
        for (ptrdiff_t q = 0; q < count; q++)
            piece(arg, q);
        return;
    }
#if QUICK_TEAM
    int64_t start = pynn_now_ns();
    const int hot =
        start - atomic_load_explicit(&g_quick_joined_ns, memory_order_relaxed) < g_team_hot_ns;
    pynn_pieces pieces;
    pynn_pieces_init(&pieces, helpers + 1);
    g_quick.piece = piece;
    g_quick.arg = arg;
    g_quick.count = count;
    g_quick.pieces = &pieces;
    /* (released: a thread that takes its slot sees the work above, even
     * one that saw an earlier post) */
    for (int t = 1; t <= helpers; t++)
        atomic_store_explicit(&g_quick.slot[t].state, QUICK_POSTED, memory_order_release);
    atomic_fetch_add(&g_quick.posts, 1);
    if (atomic_load(&g_quick.sleepers))
        syscall(SYS_futex, &g_quick.posts, FUTEX_WAKE_PRIVATE, PYNN_MAX_THREADS, NULL, NULL, 0);
    int turn = 0;
    for (ptrdiff_t q; (q = pynn_pieces_take(&pieces, 0, count, 0, &turn)) >= 0;)
        piece(arg, q);
    int64_t done = 0;
    int missed = 0;
    for (int t = 1; t <= helpers; t++) {
        _Atomic int *state = &g_quick.slot[t].state;
        int posted = QUICK_POSTED;
        if (atomic_compare_exchange_strong_explicit(state, &posted, QUICK_IDLE,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed)) {
            missed = 1;
            continue;
        }
        if (!done)
            done = pynn_now_ns();
        while (atomic_load_explicit(state, memory_order_acquire) != QUICK_DONE)
            cpu_pause();
        atomic_store_explicit(state, QUICK_IDLE, memory_order_relaxed);
    }
    int64_t now = pynn_now_ns();
    /* Late: a thread that should have been spinning (all took part in a
     * run that ended just before) did not start while the caller did all
     * its pieces, three runs in a row (once is the host's hiccup), or one
     * that took a piece then lost its core (another process, the host)
     * and held the caller up.  (A thread being woken misses a few runs:
     * not late.) */
    g_quick_misses = missed && hot ? g_quick_misses + 1 : 0;
    if (g_quick_misses >= 3 || (done && now - done > 20000 && 2 * (now - done) > now - start)) {
        team_was_late(now);
        g_quick_misses = 0;
    }
    if (!missed)
        atomic_store_explicit(&g_quick_joined_ns, now, memory_order_relaxed);
    atomic_store_explicit(&g_quick_end_ns, now, memory_order_relaxed);
    atomic_store_explicit(&g_quick_busy, 0, memory_order_release);
#endif
}

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
    team_calibrate();
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
