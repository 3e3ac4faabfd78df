/* Bernoulli binarization of grey-level images (see vae/binarize.h). Pixel
 * values v in 0..255 become 1 when u * 255 < v for u uniform in [0, 1), so
 * 0 stays 0 and 255 stays 1, with one generator per image. */
#include "vae/binarize.h"

#include <string.h>

#include "vae/rng.h"

static const char *const NAMES[] = {"none", "dynamic", "static"};

const char *binarize_name(BinarizeMode m) { return (unsigned)m < 3 ? NAMES[m] : "?"; }

int binarize_parse(const char *s, BinarizeMode *out) {
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, NAMES[i]) == 0) {
            *out = (BinarizeMode)i;
            return 0;
        }
    return -1;
}

uint64_t binarize_key(uint64_t seed, uint64_t epoch) {
    Rng r;
    rng_seed(&r, seed ^ 0xb1a41ce5ULL);
    return rng_next(&r) ^ (epoch * 0xd1342543de82ef95ULL);
}

static void sample_image(const uint8_t *src, size_t d, uint64_t key, uint64_t index, uint8_t *dst8, float *dstf) {
    Rng r;
    rng_seed(&r, key + 0x9e3779b97f4a7c15ULL * (index + 1));
    for (size_t j = 0; j < d; j++) {
        int on = rng_uniform(&r) * 255.0 < (double)src[j];
        if (dst8) dst8[j] = on ? 255 : 0;
        if (dstf) dstf[j] = on ? 1.0f : 0.0f;
    }
}

void binarize_images(IdxImages *im, uint64_t key) {
    size_t d = (size_t)im->rows * im->cols;
    for (uint32_t i = 0; i < im->count; i++) {
        uint8_t *p = im->pixels + (size_t)i * d;
        sample_image(p, d, key, i, p, NULL);
    }
}

void binarize_gather(const IdxImages *im, const uint32_t *index, uint32_t first, uint32_t n, uint64_t key,
                     float *out) {
    size_t d = (size_t)im->rows * im->cols;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = index ? index[i] : first + i;
        sample_image(im->pixels + (size_t)k * d, d, key, k, NULL, out + (size_t)i * d);
    }
}

void binarize_rows_u8(const IdxImages *im, const uint32_t *index, uint32_t n, uint64_t key, uint8_t *out) {
    size_t d = (size_t)im->rows * im->cols;
    for (uint32_t i = 0; i < n; i++)
        sample_image(im->pixels + (size_t)index[i] * d, d, key, index[i], out + (size_t)i * d, NULL);
}
