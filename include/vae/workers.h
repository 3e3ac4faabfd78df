/* Data-parallel training steps on one machine. Each step's batch is cut into
 * contiguous row ranges, one per worker thread (vae/pool.h); every worker
 * gathers its rows and runs the forward and backward pass with
 * single-threaded GEMMs into its own activations and its own gradient
 * buffer; then the Adam pass, split across the workers by parameter range,
 * sums the gradient buffers in worker order and clears them. Small GEMMs run
 * faster this way than split inside OpenBLAS, and the element-wise passes
 * (bias+ReLU, reparameterization, loss and gradient, gather, Adam) use every
 * core instead of one.
 * In a model whose parameters all lie in linear layers (the MLPs) the
 * backward passes form input gradients only; after them each worker forms
 * the weight and bias gradients of its share of every linear layer's output
 * rows over the whole batch (the workers' blocks in worker order) in
 * model->grads, and runs Adam on those rows at once, while the gradient is
 * still in its core's cache: one gradient read instead of n, none written
 * back (w->defer; the per-worker buffers then stay unused and zero).
 *
 * Determinism: the row ranges, the order of the gradient sum and of the loss
 * sums depend only on the batch size and the worker count, so a run is
 * reproducible, and resumes bit for bit, at the same worker count. Different
 * worker counts round differently (compare them within tolerance).
 * With one worker the same code runs on the caller's thread alone; a model
 * whose layers couple the images of a batch (the EAE's latent batch norm and
 * kNN entropy) always gets one worker, with OpenBLAS's threads as before. */
#ifndef VAE_WORKERS_H
#define VAE_WORKERS_H

#include <stdint.h>

#include "vae/adam.h"
#include "vae/common.h"
#include "vae/idx.h"
#include "vae/pool.h"
#include "vae/vae.h"

#define VAE_MAX_WORKERS 1024

/* Runs once per step between backward and Adam, on the calling thread, with
 * the process's whole gradient in m->grads and its loss sums: where an MPI
 * run allreduces them. Returns VAE_OK or VAE_ERR with a message. */
typedef int (*VaeGradHook)(Vae *m, VaeLoss *loss, void *ctx, VaeError *err);

typedef struct {
    AdamConfig adam;
    VaeGradHook reduce;             /* NULL: nothing to reduce */
    void *reduce_ctx;
    /* Instead of eps: the step's noise as rng_normal_uniforms drew it
       (vae/rng.h), this share's normals starting at normal noise_first;
       each worker transforms its own rows (the transform is ~95 % of
       rng_normal's time, serial otherwise). NULL: eps is the noise. */
    const double *noise_u;
    size_t noise_first;
} VaeStepConfig;

typedef enum { VAE_STEP_OK = 0, VAE_STEP_NONFINITE = 1, VAE_STEP_HOOK_FAILED = 2 } VaeStepStatus;

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
    VaeLoss step_loss;              /* the step's loss sums, after the hook */
    int hook_rc;                    /* the hook's status this step */
    VaeError *hook_err;
    VaePool *pool;                  /* n threads (the caller's included); NULL for one worker */
    uint16_t *shadow;               /* bf16: the parameters in bf16 (n_params), read by the
                                       GEMMs (vae/gemm.h); NULL in fp32 */
    long shadow_t;                  /* the model->adam_t whose parameters shadow holds, written
                                       by that step's Adam pass; -1: refresh at the next step */
    int defer;                      /* the weight gradients are formed after the passes, each
                                       worker a share of every linear layer's rows over the whole
                                       batch, and updated by Adam at once (MLP models; VaeActs
                                       defer_wgrad); VAE_DEFER_WGRAD=0 turns it off */
    int stable;                     /* bf16: the forward activations are registered as stable
                                       blocks of the GEMMs (each rounded once a step) */
} VaeWorkers;

/* n >= 1 workers for batches of up to max_batch rows of model m (which must
 * outlive them, and not be re-initialised: the workers keep views of its
 * parameter block). Zeroes model->grads; the steps keep every gradient
 * buffer zero between steps. */
int vae_workers_init(VaeWorkers *w, Vae *m, int n, int max_batch, VaeError *err);
void vae_workers_free(VaeWorkers *w);
/* The precision of the steps' GEMMs (the views'; model itself is left as
 * it is, so evaluation stays in its precision). bf16 needs
 * vae_bf16_available() and allocates the parameters' bf16 shadow, which
 * each step's Adam pass rewrites as it updates the parameters (each worker
 * its range), so each weight is rounded once per step rather than twice
 * per worker; and registers the workers' forward activations as stable
 * blocks (vae/gemm.h), so each is rounded once per step.
 * Returns VAE_OK or VAE_ERR with a message. */
int vae_workers_set_precision(VaeWorkers *w, VaePrecision p, VaeError *err);
/* The parameters were changed other than by vae_workers_step (in bf16 the
 * next step then rounds them afresh). Loading a checkpoint that moves
 * model->adam_t is noticed without it. */
void vae_workers_params_changed(VaeWorkers *w);

/* 1 when the model's images are independent within a batch, so a batch can
 * be split across workers (no latent batch norm). */
int vae_workers_can_split(const Vae *m);

/* One optimizer step over the workers: the rows index[0..B) of im (labels:
 * the data set's labels, read by conditional models; NULL otherwise) with
 * the noise eps (B, Z) (or sc->noise_u), as this process's share of a step
 * of B_global images (B_global == B without MPI); the objective is the mean over
 * B_global. Each worker gathers its rows itself. With a hook in sc the
 * workers' gradients are first summed into model->grads, the hook runs once
 * (every step, even with a non-finite loss), then Adam; without one the sum
 * happens inside the Adam pass. Fills *loss (sums over the images, as
 * reduced by the hook) and, when the step reaches Adam, updates the
 * parameters, moments and model->adam_t and leaves every gradient buffer
 * zeroed. VAE_STEP_NONFINITE: *bad names the term ("reconstruction", "KL",
 * "gradient"; the parameters may then be spoiled); VAE_STEP_HOOK_FAILED: the
 * hook's message is in err. */
VaeStepStatus vae_workers_step(VaeWorkers *w, const IdxImages *im, const uint8_t *labels, const uint32_t *index,
                               const float *eps, int B, int B_global, const VaeStepConfig *sc, VaeLoss *loss,
                               const char **bad, VaeError *err);

#endif
