/* Opening a trained model for use: a checkpoint with or without training
 * state, the data folder it was trained on, and a test split checked against
 * the model's image size. What every command that reads a checkpoint does
 * first. The caller owns *m (vae_free) and *test (idx_split_free). */
#ifndef VAE_LOADER_H
#define VAE_LOADER_H

#include <stddef.h>
#include "vae/common.h"
#include "vae/idx.h"
#include "vae/vae.h"

/* Data folder used when neither the command line nor the checkpoint names one. */
#define LOADER_DEFAULT_DATA "data/mnist"

/* Loads a full or weights-only checkpoint into *m. Copies the data folder it
 * was trained on into dataset[dlen] ("" when the checkpoint has no training
 * state); dataset may be NULL. On failure nothing is left allocated. */
int loader_model(const char *path, Vae *m, char *dataset, size_t dlen, VaeError *err);

/* The data folder to use: `given` if not NULL, else the checkpoint's, else
 * LOADER_DEFAULT_DATA. */
const char *loader_pick_data(const char *given, const char *from_ckpt);

/* Loads the test split of dir into *test and checks its images have the
 * model's size. On failure *test is freed. */
int loader_test_split(IdxSplit *test, const char *dir, const Vae *m, VaeError *err);

#endif
