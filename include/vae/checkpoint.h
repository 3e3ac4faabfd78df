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
 * loss settings, the training state below and a CRC-32 of the data section.
 * Loading checks every offset, dtype and shape against the header and the
 * declared architecture, and the CRC; anything off is refused. */
#ifndef VAE_CHECKPOINT_H
#define VAE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"
#include "vae/rng.h"
#include "vae/vae.h"

/* Version 2 (format "vae") adds the architecture ('arch', 'channels') and the
 * whole layer list ('layers', the JSON of vae_layout_json); version 1
 * (format "vae-mlp", MLP only) still loads. */
#define CHECKPOINT_FORMAT "vae"
#define CHECKPOINT_VERSION 2
#define CHECKPOINT_FORMAT_V1 "vae-mlp"

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
    char dataset[256];          /* data folder the run trained on */
} TrainState;

void train_state_free(TrainState *st);

/* Atomic write (temp file, fsync, rename). st may be NULL (weights only). */
int checkpoint_save(const char *path, const Vae *m, const TrainState *st, VaeError *err);

/* Initialises *m (vae_init) from the declared architecture and fills the
 * parameters and Adam state; fills *st when not NULL. On failure nothing is
 * left allocated. */
int checkpoint_load(const char *path, Vae *m, TrainState *st, VaeError *err);
/* Same from memory; `name` appears in errors. What the fuzzer drives. */
int checkpoint_parse(const uint8_t *buf, size_t len, const char *name, Vae *m,
                     TrainState *st, VaeError *err);

#endif
