/* Data-parallel training steps on one machine. Each step's batch is cut into
 * contiguous row ranges, one per worker thread (vae/pool.h); every worker
 * gathers its rows and runs the forward and backward pass with
 * single-threaded GEMMs into its own activations and its own gradient
 * buffer; then the Adam pass, split across the workers by parameter range,
 * sums the gradient buffers in worker order and clears them. Small GEMMs run
 * faster this way than split inside OpenBLAS, and the element-wise passes
 * (bias+ReLU, reparameterization, loss and gradient, gather, Adam) use every
 * core instead of one.
 *
 * Determinism: the row ranges, the order of the gradient sum and of the loss
 * sums depend only on the batch size and the worker count, so a run is
 * reproducible, and resumes bit for bit, at the same worker count. Different
 * worker counts round differently (compare them within tolerance).
 * With one worker the same code runs on the caller's thread alone. */
#ifndef VAE_WORKERS_H
#define VAE_WORKERS_H

#include <stdint.h>

#include "vae/adam.h"
#include "vae/common.h"
#include "vae/idx.h"
#include "vae/pool.h"
#include "vae/vae.h"

#define VAE_MAX_WORKERS 1024

typedef struct {
    int n;                          /* workers */
    int max_batch;                  /* the whole step's batch, at most */
    Vae *model;                     /* the model trained (not owned) */
    Vae *views;                     /* n shallow copies of *model, view k accumulating into grad[k] */
    VaeActs *acts;                  /* n activation blocks of ceil(max_batch / n) rows */
    float *grad[VAE_MAX_WORKERS];   /* grad[0] is model->grads; the others live in grad_block */
    float *grad_block;              /* (n - 1) * n_params floats, zeroed */
    VaeLoss *loss;                  /* n per-worker loss sums of the last step */
    int *finite;                    /* n per-worker "Adam saw finite gradients" flags */
    VaePool *pool;                  /* n threads (the caller's included); NULL for one worker */
} VaeWorkers;

/* n >= 1 workers for batches of up to max_batch rows of model m (which must
 * outlive them). model->grads must be zero, as after vae_zero_grad; the
 * steps keep every gradient buffer zero between steps. */
int vae_workers_init(VaeWorkers *w, Vae *m, int n, int max_batch, VaeError *err);
void vae_workers_free(VaeWorkers *w);

/* One training step: rows index[0..B) of im (B <= max_batch) with the noise
 * eps (B, Z); the objective is the mean over the B images. Fills *out with
 * the loss sums. When those are finite, takes the Adam step t (1-based) with
 * cfg and leaves the gradient buffers zeroed; returns "loss", "gradient" (the
 * term that was not finite: parameters are then spoiled) or NULL. */
const char *vae_workers_step(VaeWorkers *w, const IdxImages *im, const uint32_t *index, const float *eps, int B,
                             const AdamConfig *cfg, long t, VaeLoss *out);

#endif
