/* The worker pool: every thread runs the job once per run, k = 0 on the
 * caller; a barrier inside the job holds everyone until all have written
 * their part (checked by reading the others' parts after it), over many runs
 * and with a straggler slow enough that the others go from spinning to
 * yielding to sleeping; one-thread and NULL pools run inline. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "vae/pool.h"

#define MAX_T 8

typedef struct {
    VaePool *p;
    int n, round, slow;
    long part[MAX_T], seen[MAX_T];
    atomic_int calls[MAX_T];
} Job;

static void job(void *ctx, int k) {
    Job *j = ctx;
    atomic_fetch_add(&j->calls[k], 1);
    if (j->slow && k == j->n - 1) {
        /* longer than the spin and yield phases together (2 ms) */
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    j->part[k] = (long)j->round * 100 + k;
    vae_pool_barrier(j->p);
    long s = 0;
    for (int i = 0; i < j->n; i++) s += j->part[i];
    j->seen[k] = s;
    vae_pool_barrier(j->p);   /* nobody starts the next write before all have read */
}

int main(void) {
    static const int SIZES[] = {1, 2, 3, 4, 8};
    for (size_t si = 0; si < sizeof SIZES / sizeof SIZES[0]; si++) {
        int n = SIZES[si];
        VaePool *p;
        VaeError err;
        if (vae_pool_create(&p, n, &err) != VAE_OK) {
            CHECK_MSG(0, "pool of %d: %s", n, err.msg);
            continue;
        }
        CHECK(vae_pool_size(p) == n);
        Job j;
        memset(&j, 0, sizeof j);
        j.p = p;
        j.n = n;
        int ok = 1, rounds = 500;
        for (int r = 0; r < rounds + 3; r++) {
            j.round = r;
            j.slow = r >= rounds;   /* the last three runs have a straggler */
            vae_pool_run(p, job, &j);
            long want = 0;
            for (int k = 0; k < n; k++) want += (long)r * 100 + k;
            for (int k = 0; k < n; k++) ok &= j.seen[k] == want;
        }
        CHECK_MSG(ok, "pool of %d: every thread saw every part after the barrier, in every run", n);
        int once = 1;
        for (int k = 0; k < n; k++) once &= atomic_load(&j.calls[k]) == rounds + 3;
        CHECK_MSG(once, "pool of %d: each thread ran the job once per run", n);
        vae_pool_free(p);
    }
    /* NULL pool: the barrier returns at once */
    vae_pool_barrier(NULL);
    vae_pool_free(NULL);
    VaePool *p;
    VaeError err;
    CHECK(vae_pool_create(&p, 0, &err) == VAE_ERR);
    return check_done("test_pool");
}
