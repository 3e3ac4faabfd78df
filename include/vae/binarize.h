/* Binarized MNIST, as the likelihood literature uses it: each pixel becomes
 * 1 with probability grey/255 (a Bernoulli sample), else 0.
 *   dynamic: a fresh sample of every training image each time it is used;
 *            the noise of image i in epoch e is a pure function of (seed, e, i),
 *            so a resumed run sees the same images bit for bit;
 *   static:  the training set sampled once (from the seed) and kept;
 *   none:    grey levels (then BCE is not a likelihood).
 * The test set of a binarized run is sampled once with BINARIZE_TEST_SEED,
 * the same for every run, so models evaluate on the same binary images. */
#ifndef VAE_BINARIZE_H
#define VAE_BINARIZE_H

#include <stdint.h>
#include "vae/idx.h"

typedef enum { BINARIZE_NONE = 0, BINARIZE_DYNAMIC = 1, BINARIZE_STATIC = 2 } BinarizeMode;

#define BINARIZE_TEST_SEED 0x7e57b17ULL

/* "none", "dynamic", "static" <-> mode; parse returns -1 for anything else */
const char *binarize_name(BinarizeMode m);
int binarize_parse(const char *s, BinarizeMode *out);

/* The generator key of (seed, epoch); epoch 0 is what static binarization uses. */
uint64_t binarize_key(uint64_t seed, uint64_t epoch);

/* In place: every pixel of every image becomes 0 or 255; image i uses the
 * stream (key, i), so a subset of a data set gets the same bits. */
void binarize_images(IdxImages *im, uint64_t key);

/* As idx_gather (index NULL = first, first+1, ...), but writes Bernoulli
 * samples (0.0 or 1.0) of the images with the stream (key, image index). */
void binarize_gather(const IdxImages *im, const uint32_t *index, uint32_t first, uint32_t n, uint64_t key,
                     float *out);

/* The same samples as bytes (0 or 255): row i of out is image index[i]. */
void binarize_rows_u8(const IdxImages *im, const uint32_t *index, uint32_t n, uint64_t key, uint8_t *out);

#endif
