/* Checkpoints in the safetensors format: 8-byte little-endian header length,
 * a JSON header (parsed and written with cJSON), then raw little-endian data.
 * A PyTorch or NumPy user loads one with the `safetensors` library.
 *
 * Tensors: the model's parameters under their PyTorch names and shapes
 * ("enc.0.weight", ...; see vae.h), the Adam moments as "adam.m.<name>" and
 * "adam.v.<name>", and, for a checkpoint taken inside an epoch, the epoch's
 * data order "train.order" (I32: torch has no uint32, and a PyTorch user must
 * be able to load any checkpoint). __metadata__ (string -> string, as the
 * format requires) holds the format name and version, the architecture, the
 * loss settings, the training state below and a CRC-32 of the whole file
 * (taken with the crc32 value's 8 hex digits read as '0'), so an edited header
 * value is caught as surely as a flipped data bit.
 * Loading is total: every metadata value is parsed strictly and range-checked
 * (architecture, loss weights, lr > 0, epoch/step/partial sums consistent
 * with each other, a non-zero RNG state, the data path), every tensor's
 * dtype and shape is checked against the declared architecture, a missing or
 * extra tensor is named, and parameters and Adam moments must be finite
 * (second moments >= 0); anything off is refused with the reason. */
#ifndef VAE_CHECKPOINT_H
#define VAE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "vae/binarize.h"
#include "vae/common.h"
#include "vae/gemm.h"
#include "vae/rng.h"
#include "vae/vae.h"

/* Version 2 (format "vae") adds the architecture ('arch', 'channels') and the
 * whole layer list ('layers', the JSON of vae_layout_json); version 3 makes
 * the CRC cover the whole file instead of the data section only. Versions 1
 * (format "vae-mlp", MLP only) and 2 still load. */
#define CHECKPOINT_FORMAT "vae"
#define CHECKPOINT_VERSION 3
#define CHECKPOINT_FORMAT_V1 "vae-mlp"
/* Largest checkpoint the loader reads (a 400-hidden MNIST model is ~7.5 MB);
 * train refuses, before its first step, a model whose checkpoint would be
 * larger (checkpoint_check_size). */
#define CHECKPOINT_MAX_BYTES ((size_t)2 << 30)
/* Longest data folder path a checkpoint records, with its NUL (PATH_MAX):
 * longer ones are refused when saving and loading, never cut short. */
#define CHECKPOINT_DATASET_MAX 4096

/* Everything besides the parameters that a resumed run needs to continue
 * exactly where the interrupted one stopped. */
typedef struct {
    int epoch;                  /* completed epochs */
    long step;                  /* optimizer steps taken in total (== Vae.adam_t) */
    long epoch_step;            /* steps done inside the current epoch (0 at a boundary) */
    Rng rng;                    /* generator state after the last step */
    uint32_t *order;            /* current epoch's data order, n_order entries; owned;
                                   NULL when epoch_step == 0 */
    uint32_t n_order;
    /* partial sums of the current epoch's training terms (0 at a boundary) */
    double sum_loss, sum_recon, sum_kl;
    long sum_images;
    /* the settings the run was started with */
    float lr;
    int batch;
    uint64_t seed;
    long limit;                 /* 0 = all training images */
    int epochs;                 /* total epochs requested */
    char dataset[CHECKPOINT_DATASET_MAX]; /* data folder the run trained on */
    /* validation split and early stopping (0 = none; absent in older files) */
    long val;                   /* training images held out for validation */
    int early_stop;             /* patience in epochs, 0 = off */
    double best_val_loss;       /* best validation loss so far (when best_epoch > 0) */
    int best_epoch;             /* its epoch, 0 = none yet */
    int bad_epochs;             /* epochs since it improved */
    /* data and schedules (vae/binarize.h, vae/schedule.h); a checkpoint
       written before they existed loads with these defaults: none, 0, 0, 0,
       and Adam's 0.9, 0.999, 1e-8 */
    BinarizeMode binarize;
    int warmup;                 /* KL warm-up epochs */
    float free_bits;            /* per-dimension KL floor, nats */
    int lr_decay;               /* Burda's learning-rate stages */
    float adam_beta1, adam_beta2, adam_eps;
    /* the GEMM precision the run trained in (vae/gemm.h; absent in older
       files: fp32). A record only: the parameters are fp32 either way, and
       a run may resume in the other precision */
    VaePrecision precision;
} TrainState;

void train_state_free(TrainState *st);

/* Atomic write (temp file, fsync, rename). st may be NULL (weights only).
 * Refuses (writing nothing) a file the loader would refuse for its size. */
int checkpoint_save(const char *path, const Vae *m, const TrainState *st, VaeError *err);

/* Initialises *m (vae_init) from the declared architecture and fills the
 * parameters and Adam state; fills *st when not NULL. On failure nothing is
 * left allocated. */
int checkpoint_load(const char *path, Vae *m, TrainState *st, VaeError *err);
/* Same from memory; `name` appears in errors. What the fuzzer drives. */
int checkpoint_parse(const uint8_t *buf, size_t len, const char *name, Vae *m,
                     TrainState *st, VaeError *err);

/* Refuses, with the size and the limit in the message, a model of this
 * architecture whose checkpoint (with a data order of n_order entries and the
 * given data path) would be larger than CHECKPOINT_MAX_BYTES. Computed from
 * the layout alone, so it runs before the model is allocated. */
int checkpoint_check_size(const VaeConfig *cfg, uint32_t n_order, const char *dataset, VaeError *err);

#endif
