/* Data-parallel training steps over a pool of worker threads (see
 * vae/workers.h, vae/pool.h): per-worker rows, activations and gradient
 * buffers; one fused gradient-sum + Adam pass split by parameter range. */
#include "vae/workers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


int vae_workers_init(VaeWorkers *w, Vae *m, int n, int max_batch, VaeError *err) {
    memset(w, 0, sizeof *w);
    if (n < 1 || n > VAE_MAX_WORKERS) return vae_fail(err, "%d workers is out of range (1..%d)", n, VAE_MAX_WORKERS);
    if (max_batch < 1) return vae_fail(err, "batch size %d must be >= 1", max_batch);
    /* more workers than rows would leave some idle */
    if (n > max_batch) n = max_batch;
    w->n = n;
    w->max_batch = max_batch;
    w->model = m;
    w->views = calloc((size_t)n, sizeof *w->views);
    w->acts = calloc((size_t)n, sizeof *w->acts);
    w->loss = calloc((size_t)n, sizeof *w->loss);
    w->finite = calloc((size_t)n, sizeof *w->finite);
    if (!w->views || !w->acts || !w->loss || !w->finite) {
        vae_workers_free(w);
        return vae_fail(err, "out of memory for %d workers", n);
    }
    if (n > 1 && vae_pool_create(&w->pool, n, err) != VAE_OK) {
        vae_workers_free(w);
        return VAE_ERR;
    }
    size_t extra;
    if (vae_mul_size((size_t)(n - 1), m->n_params, &extra) != 0 || vae_mul_size(extra, sizeof(float), &extra) != 0) {
        vae_workers_free(w);
        return vae_fail(err, "gradient buffers for %d workers are too large", n);
    }
    if (n > 1) {
        w->grad_block = calloc(extra, 1);
        if (!w->grad_block) {
            vae_workers_free(w);
            return vae_fail(err, "out of memory for the gradients of %d workers", n);
        }
    }
    int rows = (max_batch + n - 1) / n;
    for (int k = 0; k < n; k++) {
        w->grad[k] = k == 0 ? m->grads : w->grad_block + (size_t)(k - 1) * m->n_params;
        /* a view shares the parameters and accumulates into its own buffer */
        w->views[k] = *m;
        w->views[k].grads = w->grad[k];
        if (vae_acts_init(&w->acts[k], m, rows, err) != VAE_OK) {
            vae_workers_free(w);
            return VAE_ERR;
        }
    }
    return VAE_OK;
}

void vae_workers_free(VaeWorkers *w) {
    if (!w) return;
    if (w->acts)
        for (int k = 0; k < w->n; k++) vae_acts_free(&w->acts[k]);
    free(w->acts);
    free(w->views);
    free(w->loss);
    free(w->finite);
    free(w->grad_block);
    vae_pool_free(w->pool);
    memset(w, 0, sizeof *w);
}

/* Worker k's share of the step: gather, forward, backward on its rows. */
static void worker_pass(VaeWorkers *w, int k, const IdxImages *im, const uint32_t *index, const float *eps, int B) {
    int n = w->n, Z = w->model->cfg.zdim;
    int r0 = (int)((long)B * k / n), r1 = (int)((long)B * (k + 1) / n), rows = r1 - r0;
    memset(&w->loss[k], 0, sizeof w->loss[k]);
    if (rows == 0) return;
    VaeActs *a = &w->acts[k];
    idx_gather(im, index + r0, 0, (uint32_t)rows, a->x);
    memcpy(a->eps, eps + (size_t)r0 * Z, (size_t)rows * Z * sizeof(float));
    vae_forward_scaled(&w->views[k], a, rows, B, 1, 1, &w->loss[k]);
    if (isfinite(w->loss[k].recon) && isfinite(w->loss[k].kl)) vae_backward(&w->views[k], a, rows);
}

/* Worker k's share of the update: parameters [lo, hi), cut at multiples of
 * 16 floats so no two workers write one cache line. */
static void worker_adam(VaeWorkers *w, int k, const AdamConfig *cfg, long t) {
    Vae *m = w->model;
    size_t per = (m->n_params + (size_t)w->n - 1) / (size_t)w->n;
    per = (per + 15) / 16 * 16;
    size_t lo = per * (size_t)k, hi = lo + per;
    if (hi > m->n_params) hi = m->n_params;
    w->finite[k] = 1;
    if (lo >= hi) return;
    float *g[VAE_MAX_WORKERS];
    for (int j = 0; j < w->n; j++) g[j] = w->grad[j] + lo;
    w->finite[k] = adam_update_sum(m->params + lo, g, w->n, m->adam_m + lo, m->adam_v + lo, hi - lo, cfg, t);
}

/* the step's loss sums, in worker order; identical on every thread */
static VaeLoss total_loss(const VaeWorkers *w) {
    VaeLoss s = {0, 0, 0};
    for (int k = 0; k < w->n; k++) {
        s.loss += w->loss[k].loss;
        s.recon += w->loss[k].recon;
        s.kl += w->loss[k].kl;
    }
    return s;
}

static const char *bad_term(const VaeLoss *s) {
    return !isfinite(s->recon) ? "reconstruction" : !isfinite(s->kl) ? "KL" : NULL;
}

typedef struct {
    VaeWorkers *w;
    const IdxImages *im;
    const uint32_t *index;
    const float *eps;
    int B;
    const AdamConfig *cfg;
    long t;
} StepJob;

/* everything thread k does in a step */
static void step_job(void *ctx, int k) {
    StepJob *j = ctx;
    worker_pass(j->w, k, j->im, j->index, j->eps, j->B);
    vae_pool_barrier(j->w->pool);
    VaeLoss s = total_loss(j->w);
    if (bad_term(&s)) j->w->finite[k] = 1;
    else worker_adam(j->w, k, j->cfg, j->t);
}

const char *vae_workers_step(VaeWorkers *w, const IdxImages *im, const uint32_t *index, const float *eps, int B,
                             const AdamConfig *cfg, long t, VaeLoss *out) {
    StepJob job = {w, im, index, eps, B, cfg, t};
    if (w->n == 1) {
        step_job(&job, 0);
    } else {
        /* the workers are the threads: OpenBLAS runs each GEMM on its
           caller's thread (a threaded OpenBLAS would serialise their calls) */
        if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
        vae_pool_run(w->pool, step_job, &job);
    }
    *out = total_loss(w);
    if (bad_term(out)) return bad_term(out);
    for (int k = 0; k < w->n; k++)
        if (!w->finite[k]) return "gradient";
    return NULL;
}
