/* IDX files (the MNIST format): validated loading of image and label files,
 * raw or gzip-compressed (recognised by magic bytes, not by name), and
 * gathering of float batches for training.
 * Pixels stay uint8 in memory (MNIST train = 47 MB); batches are converted on
 * the fly. The caller owns the structs; *_free releases what *_load filled. */
#ifndef VAE_IDX_H
#define VAE_IDX_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"

typedef struct {
    uint8_t *pixels;   /* (count, rows, cols), row-major */
    uint32_t count, rows, cols;
    const uint8_t *labels;  /* borrowed: the split's labels, one per image (set by
                               idx_load_split; NULL for images loaded alone) */
} IdxImages;

typedef struct {
    uint8_t *labels;   /* (count) */
    uint32_t count;
} IdxLabels;

/* Load from a file. `path` appears in every error message. */
int idx_load_images(IdxImages *out, const char *path, VaeError *err);
int idx_load_labels(IdxLabels *out, const char *path, VaeError *err);
/* Same from memory (raw or gzip bytes); `name` is used in error messages.
 * These are what the fuzzers drive. */
int idx_parse_images(IdxImages *out, const uint8_t *buf, size_t len, const char *name, VaeError *err);
int idx_parse_labels(IdxLabels *out, const uint8_t *buf, size_t len, const char *name, VaeError *err);
void idx_images_free(IdxImages *im);
void idx_labels_free(IdxLabels *lb);

/* out (n, rows*cols) = pixels/255 of images index[0..n); index NULL means
 * images first, first+1, ..., first+n-1. Caller guarantees bounds. */
void idx_gather(const IdxImages *im, const uint32_t *index, uint32_t first, uint32_t n, float *out);

/* A split of a standard data folder: train-{images-idx3,labels-idx1}-ubyte or
 * t10k-..., each optionally with ".gz" (the plain name is tried first). */
typedef struct {
    IdxImages images;
    IdxLabels labels;
    char images_path[4096];
    char labels_path[4096];
} IdxSplit;

typedef enum { IDX_TRAIN = 0, IDX_TEST = 1 } IdxSplitKind;

/* Loads images and labels of one split and checks their counts agree. */
int idx_load_split(IdxSplit *out, const char *dir, IdxSplitKind which, VaeError *err);
void idx_split_free(IdxSplit *s);

#endif
