/* Test-set metrics: per-image means of the loss terms with a sampled z and
 * with z = mu, over fixed-size batches of the data in file order. */
#include "vae/eval.h"

#include "vae/rng.h"

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
    double d = n ? (double)n : 1.0;
    out->loss = loss / d;
    out->recon = recon / d;
    out->kl = kl / d;
    out->loss_mu = loss_mu / d;
    out->recon_mu = recon_mu / d;
    out->images = n;
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
