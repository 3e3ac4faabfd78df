/* The training loop: shuffled mini-batches, Adam, per-epoch test metrics,
 * metrics.csv, sample/reconstruction grids and an atomic checkpoint after
 * every epoch; a stop request (SIGINT/SIGTERM) checkpoints mid-epoch so
 * --resume continues exactly where the run stopped. Reports progress through
 * callbacks; it never prints. */
#ifndef VAE_TRAIN_H
#define VAE_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include "vae/adam.h"
#include "vae/checkpoint.h"
#include "vae/common.h"
#include "vae/dist.h"
#include "vae/eval.h"
#include "vae/vae.h"

/* ---- one optimizer step, callable on its own ----
 * Lifecycle of a step: zero the gradients, forward (loss) over the local
 * batch, backward, the reduction hook, Adam. A data-parallel run gives each
 * worker its share (B rows) of a step of B_global images: the objective is
 * the mean over B_global, so the gradients of all shares add up to the
 * gradient of the whole step. */
typedef struct {
    const float *x;                 /* (B, D) images in [0, 1]; may be a->x (no copy) */
    const uint8_t *labels;          /* (B) class labels of a conditional model's batch, or NULL
                                       (not conditional, or a->y already set by vae_set_labels) */
    const float *eps;               /* (B, Z) noise for z; may be a->eps (no copy) */
    int B;                          /* images in this batch (this worker's share) */
    int B_global;                   /* images in the whole step: the gradient scale is 1/B_global */
} TrainBatch;

/* Runs between backward and Adam, once per step: where an MPI run
 * allreduces m->grads (m->n_params floats) and the loss sums, or a per-core
 * split sums its threads' gradients. Returns VAE_OK or VAE_ERR with a message. */
typedef int (*TrainGradHook)(Vae *m, VaeLoss *loss, void *ctx, VaeError *err);

/* Sums n doubles over the shares of a step (every rank's), in place: what
 * a split step needs for a statistic of the whole batch. */
typedef int (*TrainSumHook)(double *v, int n, void *ctx, VaeError *err);

typedef struct {
    AdamConfig adam;
    TrainGradHook reduce;           /* NULL: nothing to reduce */
    void *reduce_ctx;               /* passed to reduce and sum_dims */
    /* KL warm-up and free bits (vae/schedule.h), off when kl_scale is NULL:
     * between forward and backward the batch mean of each dimension's KL
     * (over the whole step: sum_dims adds the shares' per-dimension sums)
     * gives the per-dimension KL gradient weights, and the loss's KL term
     * becomes beta * kl_weight * sum_j max(free_bits, KL_j) per image. */
    double kl_weight;
    float free_bits;
    float *kl_scale;                /* (Z) scratch for the weights, or NULL */
    double *kl_dims;                /* (Z) scratch for the batch-mean KL per dimension */
    TrainSumHook sum_dims;          /* NULL: the step is this batch alone */
} TrainStepConfig;

typedef enum { STEP_OK = 0, STEP_NONFINITE = 1, STEP_HOOK_FAILED = 2 } TrainStepStatus;

/* One step on batch b: fills *loss (sums over the batch's images; reduced by
 * the hook if it does so) and updates m->params, m->adam_m/v and m->adam_t.
 * STEP_NONFINITE: the loss or a gradient was not finite, *bad names the term
 * ("reconstruction", "KL", "gradient"); the parameters may then be spoiled
 * (save nothing). STEP_HOOK_FAILED: the hook's message is in err. */
TrainStepStatus train_step(Vae *m, VaeActs *a, const TrainBatch *b, const TrainStepConfig *sc, VaeLoss *loss,
                           const char **bad, VaeError *err);

/* ---- the whole run ---- */

typedef struct {
    int epoch, epochs;
    long step, steps;               /* inside the epoch */
    double loss;                    /* running mean per image in this epoch */
    double images_per_sec;          /* training loop only, this epoch */
    double eta_seconds;             /* this epoch */
} TrainProgress;

typedef struct {
    int epoch, epochs;
    long step;                      /* total optimizer steps */
    double train_loss, train_recon, train_kl;   /* means per image over the epoch */
    EvalMetrics test;
    EvalMetrics val;                /* the held-out training images (when has_val) */
    int has_val;
    int best;                       /* has_val: this epoch's validation loss is the best so far */
    double images_per_sec, seconds; /* this epoch's training loop */
    double lr;                      /* this epoch's learning rate (--lr-decay) */
    double kl_weight;               /* warm-up factor at the epoch's last step */
} TrainEpoch;

typedef struct {
    VaeConfig model;                /* rows/cols are taken from the data */
    float lr;
    int batch, epochs;
    uint64_t seed;
    long limit;                     /* 0 = all training images */
    long val;                       /* hold out this many of them for validation (0 = none); which
                                       ones follows from the seed alone */
    int early_stop;                 /* patience: stop after this many epochs without a better
                                       validation loss (0 = off; needs val); the best model is
                                       kept in OUT/best.safetensors */
    const char *config_text;        /* written to OUT/config.ini at the start, or NULL */
    const char *data_dir;
    const char *out_dir;
    const char *resume;             /* checkpoint to continue, or NULL */
    int threads;                    /* training workers, each running its share of every
                                       batch (vae/workers.h); 0 = OpenBLAS's thread count.
                                       The result depends on it (rounding), so a run
                                       resumes bit for bit at the same count */
    VaePrecision precision;         /* of the training steps' GEMMs (vae/gemm.h); bf16 needs
                                       vae_bf16_available(). Evaluation is fp32 either way */
    /* data and schedules (vae/binarize.h, vae/schedule.h); zero = off */
    int binarize;                   /* BinarizeMode */
    int warmup;                     /* KL weight 0 -> beta over this many epochs */
    float free_bits;                /* per-dimension KL floor (nats) */
    int lr_decay;                   /* Burda's learning-rate stages */
    float adam_beta1, adam_beta2, adam_eps;   /* 0 = Adam's defaults 0.9, 0.999, 1e-8 */
    int artifacts;                  /* write sample-NN.png / recon-NN.png / curves.png each epoch */
    int force;                      /* replace a checkpoint already in out_dir (not the resumed one) */
    volatile sig_atomic_t *stop;    /* set asynchronously to request a clean stop */
    void (*on_progress)(const TrainProgress *p, void *ctx);
    void (*on_epoch)(const TrainEpoch *e, void *ctx);
    void *ctx;
    TrainGradHook reduce;           /* passed to every train_step; NULL for none */
    void *reduce_ctx;
    /* MPI data parallelism (vae/dist.h), NULL or a world of one: off. Each
     * rank trains its share of every batch (the same shuffled order and
     * noise on every rank, from the seed); the gradients and loss sums are
     * summed over the ranks every step; a stop request on any rank stops all
     * at the same step. Rank 0 alone evaluates and writes (and locks the run
     * folder); the others write nothing and their TrainEpoch/TrainResult
     * metrics other than the training loss are not filled. */
    const VaeDist *dist;
} TrainConfig;

typedef enum { TRAIN_DONE = 0, TRAIN_STOPPED = 1 } TrainOutcome;



typedef struct {
    TrainOutcome outcome;
    int epoch;                      /* completed epochs */
    long step;
    TrainEpoch last;                /* metrics of the last completed epoch (if any ran) */
    int epochs_run;
    int early_stopped;              /* stopped by --early-stop */
    int best_epoch;                 /* with validation: epoch of the best validation loss */
    double best_val_loss;
    double train_seconds;           /* training loop only, this invocation */
    long train_images;              /* images trained on, this invocation (whole steps,
                                       under MPI too) */
    double reduce_seconds;          /* MPI: time in the gradient all-reduce (waiting for the
                                       slowest rank included), this invocation */
    char checkpoint[4200];
    int stop_signal;                /* TRAIN_STOPPED: the signal every rank agreed on (the
                                       value *stop held; the highest over the ranks) */
    int collective_error;           /* VAE_ERR seen alike by every rank (start-up checks,
                                       a divergence): no rank waits for another, so the
                                       ranks can exit normally; 0: this rank's own error */
} TrainResult;

/* Loads the data (and the checkpoint when resuming), trains, writes outputs.
 * The run folder belongs to this run: it is locked (flock) until the call
 * returns, and a second run into it fails at once, naming the other's pid. A
 * folder that already holds a checkpoint is refused unless that checkpoint is
 * the one resumed, or force is set.
 * Errors (data, files, a non-finite loss) return VAE_ERR with a message. */
int vae_train(const TrainConfig *cfg, TrainResult *res, VaeError *err);

/* Fills `out` with the names of per-epoch outputs in cfg->out_dir. */
void train_output_path(char *out, size_t len, const char *dir, const char *name);

#endif
