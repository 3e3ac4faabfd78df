/* A persistent pool of worker threads for the training step (vae/workers.h):
 * vae_pool_run runs fn(ctx, k) for k = 0 .. n-1 at once, k = 0 on the
 * calling thread, and returns when all are done; inside fn, vae_pool_barrier
 * waits for all n. Waiting spins briefly, then yields the core
 * (sched_yield), then sleeps: on an idle machine a step's hand-offs cost
 * microseconds, and on a busy one a waiting thread gives its core to the
 * thread it waits for instead of burning it (OpenMP's default busy-wait
 * doubled vae's CPU time on an oversubscribed machine). */
#ifndef VAE_POOL_H
#define VAE_POOL_H

#include "vae/common.h"

typedef struct VaePool VaePool;

/* n >= 1 threads in all, the caller included (n - 1 are started). */
int vae_pool_create(VaePool **out, int n, VaeError *err);
/* Stops and joins the threads; NULL is fine. */
void vae_pool_free(VaePool *p);
int vae_pool_size(const VaePool *p);
/* Runs fn(ctx, k) on every thread k (0 = the caller) and waits for all.
 * Not reentrant: one run at a time, from one thread. */
void vae_pool_run(VaePool *p, void (*fn)(void *ctx, int k), void *ctx);
/* Inside fn: returns when every thread of the run has reached it (at once
 * for a NULL or one-thread pool). */
void vae_pool_barrier(VaePool *p);

#endif
