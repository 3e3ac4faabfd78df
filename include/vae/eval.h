/* Test-set evaluation: the loss terms as means per image over a data set,
 * once with a sampled z (what pytorch/examples prints) and once with z = mu. */
#ifndef VAE_EVAL_H
#define VAE_EVAL_H

#include <stdint.h>
#include "vae/common.h"
#include "vae/idx.h"
#include "vae/vae.h"
#include "vae/workers.h"

typedef struct {
    double loss, recon, kl;         /* sampled z: alpha*recon + beta*kl, per image */
    double loss_mu, recon_mu;       /* z = mu (kl is the same) */
    long images;
} EvalMetrics;

/* The eps stream used by evaluation: fixed by `seed`, independent of training,
 * so numbers are comparable across epochs and between runs. */
#define EVAL_SEED_SALT 0x5eed0e7a1ULL

/* Evaluates the first n images of im (n <= im->count) in batches of a->max_batch. */
void vae_evaluate(Vae *m, VaeActs *a, const IdxImages *im, uint32_t n, uint64_t seed, EvalMetrics *out);

/* The same over all of im with an activation buffer of its own for batches of
 * up to `batch` images (what the commands use); VAE_ERR if it cannot be
 * allocated. */
int vae_evaluate_images(Vae *m, const IdxImages *im, int batch, uint64_t seed, EvalMetrics *out, VaeError *err);

/* vae_evaluate over the training workers' activation blocks (vae/workers.h):
 * each batch of `batch` images split across the workers as a step is, each
 * on one thread, the loss sums added in worker order; the same eps as
 * vae_evaluate, in the model's precision. The trainer needs no activation
 * block of a whole batch for it, and the evaluation uses every core.
 * batch must fit the workers' rows (ceil(batch / n) <= rows per worker). Same numbers as vae_evaluate up to rounding (the GEMMs see
 * other row counts); deterministic for a worker count. */
int vae_evaluate_workers(VaeWorkers *w, const IdxImages *im, uint32_t n, int batch, uint64_t seed, EvalMetrics *out,
                         VaeError *err);

#endif
