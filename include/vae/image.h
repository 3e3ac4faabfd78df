/* Image grids and PNG output (stb_image_write into memory, then an atomic
 * file write). A grid tiles images like torchvision's make_grid: `ncols`
 * tiles per row, `pad` pixels of black border around and between tiles. */
#ifndef VAE_IMAGE_H
#define VAE_IMAGE_H

#include <stdint.h>
#include "vae/common.h"

/* Columns of a near-square grid for n tiles: ceil(sqrt(n)). */
int image_grid_cols(int n);

/* Columns that fill a grid of n items, each rows_per_item rows high (1 for
 * a plain grid, 2 for image/reconstruction pairs): the smallest divisor c of
 * n with c columns at least as wide as the grid is tall (c*c >= n*rows_per_item),
 * if one lies within twice the near-square width; else image_grid_cols(n *
 * rows_per_item), whose last row is short. 10 -> 5 (5x2), 64 -> 8, 128 -> 16
 * (16x8), 7 -> 3 (3+3+1); pairs: 32 -> 8 (4 pairs of rows), 64 -> 16. */
int image_grid_fill_cols(int n, int rows_per_item);

/* Size in pixels of the grid; returns VAE_ERR on absurd sizes. */
int image_grid_size(int n, int ncols, int rows, int cols, int pad, int *width, int *height, VaeError *err);

/* imgs (n, rows*cols) floats in [0,1] (clamped; NaN -> 0) -> 8-bit gray grid. */
int image_write_grid_png(const char *path, const float *imgs, int n, int rows, int cols,
                         int ncols, int pad, VaeError *err);

/* Pairs of images, e.g. test digits and their reconstructions: rows of up to
 * ncols images of `top`, each followed by a row of the matching `bottom`
 * images, so every image sits right above its partner (a short last row is
 * padded with black). Both arrays are (n, rows*cols) in [0,1]. */
int image_write_pairs_png(const char *path, const float *top, const float *bottom, int n, int rows, int cols,
                          int ncols, int pad, VaeError *err);

/* Raw 8-bit pixels (channels 1 = gray, 3 = RGB), row-major, to a PNG file. */
int image_write_png(const char *path, const uint8_t *pixels, int width, int height,
                    int channels, VaeError *err);

#endif
