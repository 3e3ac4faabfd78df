/* Bernoulli binarization: 0 stays 0 and 255 stays 1; a grey level g gives 1
 * with frequency g/255 (within 5 standard errors over many images); the same
 * key gives the same bits, another key (epoch) other bits; binarize_gather
 * of an image equals binarize_images' bits for the same key and index, so a
 * subset or reordering of a data set sees the same samples; names parse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/binarize.h"

#define N 4000
#define D 6

int main(void) {
    static const uint8_t grey[D] = {0, 255, 51, 128, 204, 1};
    uint8_t *px = malloc((size_t)N * D), *copy = malloc((size_t)N * D);
    float *g = malloc((size_t)N * D * sizeof *g), *g2 = malloc((size_t)N * D * sizeof *g2);
    for (int i = 0; i < N; i++) memcpy(px + (size_t)i * D, grey, D);
    memcpy(copy, px, (size_t)N * D);
    IdxImages orig = {.pixels = copy, .count = N, .rows = 1, .cols = D};
    IdxImages im = {.pixels = px, .count = N, .rows = 1, .cols = D};
    uint64_t key = binarize_key(9, 3);
    binarize_images(&im, key);
    long ones[D] = {0};
    int binary = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            uint8_t v = px[(size_t)i * D + j];
            binary &= v == 0 || v == 255;
            ones[j] += v == 255;
        }
    CHECK_MSG(binary, "every pixel is 0 or 255");
    CHECK_MSG(ones[0] == 0 && ones[1] == N, "0 stays 0 (%ld ones), 255 stays 1 (%ld of %d)", ones[0], ones[1], N);
    for (int j = 2; j < D; j++) {
        double p = grey[j] / 255.0, f = (double)ones[j] / N, se = sqrt(p * (1 - p) / N);
        CHECK_MSG(fabs(f - p) < 5 * se + 1e-12, "grey %d: frequency %.4f vs %.4f (se %.4f)", grey[j], f, p, se);
    }
    /* gather gives the same bits for the same key and image index, in any order */
    uint32_t index[3] = {17, 3, 3999};
    binarize_gather(&orig, index, 0, 3, key, g);
    int same = 1;
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < D; j++) same &= (g[r * D + j] == 1.0f) == (px[(size_t)index[r] * D + j] == 255);
    CHECK_MSG(same, "binarize_gather matches binarize_images for the same key and index");
    binarize_gather(&orig, NULL, 0, N, key, g);
    binarize_gather(&orig, NULL, 0, N, key, g2);
    CHECK_MSG(memcmp(g, g2, (size_t)N * D * sizeof *g) == 0, "the same key gives the same bits");
    binarize_gather(&orig, NULL, 0, N, binarize_key(9, 4), g2);
    CHECK_MSG(memcmp(g, g2, (size_t)N * D * sizeof *g) != 0, "the next epoch gives other bits");
    binarize_gather(&orig, NULL, 0, N, binarize_key(10, 3), g2);
    CHECK_MSG(memcmp(g, g2, (size_t)N * D * sizeof *g) != 0, "another seed gives other bits");
    BinarizeMode mode;
    CHECK(binarize_parse("dynamic", &mode) == 0 && mode == BINARIZE_DYNAMIC);
    CHECK(binarize_parse("static", &mode) == 0 && mode == BINARIZE_STATIC);
    CHECK(binarize_parse("none", &mode) == 0 && mode == BINARIZE_NONE);
    CHECK(binarize_parse("Dynamic", &mode) == -1 && binarize_parse("", &mode) == -1 && binarize_parse(NULL, &mode) == -1);
    CHECK(strcmp(binarize_name(BINARIZE_STATIC), "static") == 0);
    free(px);
    free(copy);
    free(g);
    free(g2);
    return check_done("test_binarize");
}
