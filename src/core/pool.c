/* The worker pool of vae/pool.h: n - 1 persistent threads and a
 * generation-counting barrier whose waiters spin, then yield, then sleep.
 * A run is two barriers: one to start every thread on the job, one to wait
 * until all have finished it. */
#include "vae/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a waiter spins, then yields, before it sleeps on the condition
 * variable. A step's hand-offs are microseconds apart; the evaluation after
 * an epoch is a fraction of a second, long enough to sleep through. */
#define SPIN_NS 20000L
#define YIELD_NS 2000000L

struct VaePool {
    int n;
    pthread_t *tid;
    int started;                    /* threads running */
    atomic_int arrived;             /* threads at the current barrier */
    atomic_int phase;               /* barriers completed */
    atomic_int sleepers;            /* waiters blocked on cv */
    atomic_int quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*fn)(void *ctx, int k);
    void *ctx;
};

typedef struct {
    VaePool *p;
    int k;
} Arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long elapsed_ns(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

static void wait_phase(VaePool *p, int ph) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0;; i++) {
        if (atomic_load(&p->phase) != ph) return;
        long ns = (i & 63) == 0 ? elapsed_ns(&t0) : 0;
        if (ns < SPIN_NS) {
            cpu_relax();
        } else if (ns < YIELD_NS) {
            sched_yield();
        } else {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->phase) == ph) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            return;
        }
    }
}

void vae_pool_barrier(VaePool *p) {
    if (!p || p->n == 1) return;
    /* the phase is read before arriving: the last arrival resets the count
       and then moves the phase on, so nobody re-enters early */
    int ph = atomic_load(&p->phase);
    if (atomic_fetch_add(&p->arrived, 1) == p->n - 1) {
        atomic_store(&p->arrived, 0);
        atomic_fetch_add(&p->phase, 1);
        /* a sleeper either saw the new phase or is counted here (both seq_cst) */
        if (atomic_load(&p->sleepers) > 0) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
        }
        return;
    }
    wait_phase(p, ph);
}

static void *worker_main(void *arg) {
    VaePool *p = ((Arg *)arg)->p;
    int k = ((Arg *)arg)->k;
    free(arg);
    for (;;) {
        vae_pool_barrier(p);    /* a run starts (or the pool stops) */
        if (atomic_load(&p->quit)) break;
        p->fn(p->ctx, k);
        vae_pool_barrier(p);    /* the run is done */
    }
    return NULL;
}

int vae_pool_create(VaePool **out, int n, VaeError *err) {
    *out = NULL;
    if (n < 1 || n > 4096) return vae_fail(err, "%d threads is out of range (1..4096)", n);
    VaePool *p = calloc(1, sizeof *p);
    if (!p) return vae_fail(err, "out of memory for a pool of %d threads", n);
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n > 1 && !(p->tid = calloc((size_t)n, sizeof *p->tid))) {
        vae_pool_free(p);
        return vae_fail(err, "out of memory for a pool of %d threads", n);
    }
    for (int k = 1; k < n; k++) {
        Arg *a = malloc(sizeof *a);
        int rc = a ? 0 : -1;
        if (a) {
            a->p = p;
            a->k = k;
            rc = pthread_create(&p->tid[k], NULL, worker_main, a);
            if (rc != 0) free(a);
        }
        if (rc != 0) {
            /* the barrier counts all n: run the started ones down with a smaller pool */
            int started = p->started;
            vae_pool_free(p);
            return vae_fail(err, "cannot start worker thread %d of %d (%d running)", k + 1, n, started + 1);
        }
        p->started++;
    }
    *out = p;
    return VAE_OK;
}

int vae_pool_size(const VaePool *p) { return p ? p->n : 1; }

void vae_pool_run(VaePool *p, void (*fn)(void *ctx, int k), void *ctx) {
    p->fn = fn;
    p->ctx = ctx;
    vae_pool_barrier(p);
    fn(ctx, 0);
    vae_pool_barrier(p);
}

void vae_pool_free(VaePool *p) {
    if (!p) return;
    if (p->started > 0) {
        if (p->started == p->n - 1) {
            atomic_store(&p->quit, 1);
            vae_pool_barrier(p);
        } else {
            /* a partial pool (a thread failed to start): the started threads
               wait at a barrier counting n; stand in for the missing ones */
            atomic_store(&p->quit, 1);
            for (int i = p->started + 1; i < p->n; i++) atomic_fetch_add(&p->arrived, 1);
            vae_pool_barrier(p);
        }
        for (int k = 1; k <= p->started; k++) pthread_join(p->tid[k], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->tid);
    free(p);
}
