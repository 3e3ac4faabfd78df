/* Test-set metrics: per-image means of the loss terms with a sampled z and
 * with z = mu, over fixed-size batches of the data in file order. */
#include "vae/eval.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "vae/rng.h"

/* The sums over n images as per-image means (0 images: the sums, all zero). */
static void metrics_per_image(EvalMetrics *out, double loss, double recon, double kl, double loss_mu, double recon_mu,
                              uint32_t n) {
    double d = n ? (double)n : 1.0;
    out->loss = loss / d;
    out->recon = recon / d;
    out->kl = kl / d;
    out->loss_mu = loss_mu / d;
    out->recon_mu = recon_mu / d;
    out->images = n;
}

void vae_evaluate(Vae *m, VaeActs *a, const IdxImages *im, uint32_t n, uint64_t seed, EvalMetrics *out) {
    Rng rng;
    rng_seed(&rng, seed ^ EVAL_SEED_SALT);
    double loss = 0, recon = 0, kl = 0, loss_mu = 0, recon_mu = 0;
    int Z = m->cfg.zdim;
    for (uint32_t first = 0; first < n; first += (uint32_t)a->max_batch) {
        uint32_t rem = n - first;
        int B = rem < (uint32_t)a->max_batch ? (int)rem : a->max_batch;
        idx_gather(im, NULL, first, (uint32_t)B, a->x);
        vae_set_labels(m, a, im->labels, NULL, first, B);
        VaeLoss s, mu;
        /* one draw per image, so the numbers do not depend on the batch size */
        for (int i = 0; i < B; i++) rng_normal(&rng, a->eps + (size_t)i * Z, (size_t)Z);
        vae_forward(m, a, B, 1, 0, &s);
        vae_forward(m, a, B, 0, 0, &mu);
        loss += s.loss;
        recon += s.recon;
        kl += s.kl;
        loss_mu += mu.loss;
        recon_mu += mu.recon;
    }
    metrics_per_image(out, loss, recon, kl, loss_mu, recon_mu, n);
}

int vae_evaluate_images(Vae *m, const IdxImages *im, int batch, uint64_t seed, EvalMetrics *out, VaeError *err) {
    if (batch < 1) return vae_fail(err, "evaluate: batch of %d images (must be >= 1)", batch);
    uint32_t n = im->count;
    if (n > 0 && (uint32_t)batch > n) batch = (int)n;
    VaeActs a;
    if (vae_acts_init_forward(&a, m, batch, err) != VAE_OK) return VAE_ERR;
    vae_evaluate(m, &a, im, n, seed, out);
    vae_acts_free(&a);
    return VAE_OK;
}

/* One batch of vae_evaluate_workers: worker k's rows [B k / n, B (k+1) / n). */
typedef struct {
    VaeWorkers *w;
    Vae *m;
    const IdxImages *im;
    uint32_t first;
    int B;
    const float *eps;
    VaeLoss *s, *mu;            /* per worker */
} EvalJob;

static void eval_job(void *ctx, int k) {
    EvalJob *j = ctx;
    int n = j->w->n, Z = j->m->cfg.zdim;
    int r0 = (int)((long)j->B * k / n), rows = (int)((long)j->B * (k + 1) / n) - r0;
    memset(&j->s[k], 0, sizeof j->s[k]);
    memset(&j->mu[k], 0, sizeof j->mu[k]);
    if (rows == 0) return;
    /* the model itself (its precision: the views may train in bf16); a
       forward pass without gradients only reads it */
    Vae *m = j->m;
    VaeActs *a = &j->w->acts[k];
    idx_gather(j->im, NULL, j->first + (uint32_t)r0, (uint32_t)rows, a->x);
    vae_set_labels(m, a, j->im->labels, NULL, j->first + (uint32_t)r0, rows);
    memcpy(a->eps, j->eps + (size_t)r0 * Z, (size_t)rows * Z * sizeof(float));
    vae_forward(m, a, rows, 1, 0, &j->s[k]);
    vae_forward(m, a, rows, 0, 0, &j->mu[k]);
}

int vae_evaluate_workers(VaeWorkers *w, const IdxImages *im, uint32_t n, int batch, uint64_t seed, EvalMetrics *out,
                         VaeError *err) {
    Vae *m = w->model;
    int Z = m->cfg.zdim;
    if (batch < 1) return vae_fail(err, "evaluate: batch of %d images (must be >= 1)", batch);
    /* no more rows per worker than its activations hold */
    if ((batch + w->n - 1) / w->n > w->acts[0].max_batch)
        return vae_fail(err, "evaluate: %d workers of %d rows cannot take batches of %d", w->n,
                        w->acts[0].max_batch, batch);
    EvalJob *job = calloc(1, sizeof *job);
    float *eps = malloc((size_t)batch * Z * sizeof *eps);
    VaeLoss *sums = calloc(2 * (size_t)w->n, sizeof *sums);
    if (!job || !eps || !sums) {
        free(job);
        free(eps);
        free(sums);
        return vae_fail(err, "out of memory for the evaluation");
    }
    job->s = sums;
    job->mu = sums + w->n;
    job->w = w;
    job->m = m;
    job->im = im;
    job->eps = eps;
    Rng rng;
    rng_seed(&rng, seed ^ EVAL_SEED_SALT);
    double loss = 0, recon = 0, kl = 0, loss_mu = 0, recon_mu = 0;
    /* each worker on one OpenBLAS (and oneDNN) thread, as in the steps */
    if (w->n > 1 && openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    for (uint32_t first = 0; first < n; first += (uint32_t)batch) {
        uint32_t rem = n - first;
        int B = rem < (uint32_t)batch ? (int)rem : batch;
        /* the same draws, image by image, as vae_evaluate */
        for (int i = 0; i < B; i++) rng_normal(&rng, eps + (size_t)i * Z, (size_t)Z);
        job->first = first;
        job->B = B;
        if (w->n == 1) eval_job(job, 0);
        else vae_pool_run(w->pool, eval_job, job);
        for (int k = 0; k < w->n; k++) {
            loss += job->s[k].loss;
            recon += job->s[k].recon;
            kl += job->s[k].kl;
            loss_mu += job->mu[k].loss;
            recon_mu += job->mu[k].recon;
        }
    }
    metrics_per_image(out, loss, recon, kl, loss_mu, recon_mu, n);
    free(job);
    free(eps);
    free(sums);
    return VAE_OK;
}
