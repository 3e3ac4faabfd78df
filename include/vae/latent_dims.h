/* Which latent dimensions carry information, and pictures of them: the KL
 * divergence of each dimension to the prior over a data set (a dimension the
 * model does not use has mu ~ 0 and sigma^2 ~ 1 for every image, so its KL
 * is ~ 0), the dimensions ranked by it, traversals of chosen dimensions,
 * and an image grid whose rows carry a text label (drawn with cairo). */
#ifndef VAE_LATENT_DIMS_H
#define VAE_LATENT_DIMS_H

#include <stdint.h>
#include "vae/common.h"
#include "vae/idx.h"
#include "vae/vae.h"

/* kl[j] (zdim doubles) = mean over the first n images of im of
 *   1/2 (mu_j^2 + s2_j - 1 - log s2_j),
 * in nats; the sum over j is the KL term vae_evaluate reports. Encodes in
 * chunks of at most `chunk` images. Errors: n < 1, out of memory. */
int latent_dim_kl(Vae *m, const IdxImages *im, uint32_t n, int chunk, double *kl, VaeError *err);

/* order[0..zdim) = the dimensions by decreasing kl; ties keep the lower index first. */
void latent_rank_dims(const double *kl, int zdim, int *order);

/* The dimensions worth traversing: those with kl >= min_kl by decreasing KL,
 * at most `top` (top >= 1), and at least the one with the largest KL.
 * Writes them to dims and returns how many. */
int latent_pick_dims(const double *kl, int zdim, int top, double min_kl, int *dims);

/* z (n_dims * steps, zdim), row r traversing dimension dims[r]: tile k is
 * center with z_{dims[r]} = center_{dims[r]} + scale * q_k, q the quantile
 * grid of latent_quantile_grid. Errors: steps < 2, a dimension out of
 * 0..zdim-1, n_dims < 1, a scale that is not finite and positive. */
int latent_traverse_fill(int zdim, int steps, const int *dims, int n_dims, double scale, const float *center,
                         float *z, VaeError *err);

/* A grid of n_rows rows of ncols tiles (imgs (n_rows * ncols, rows * cols)
 * in [0, 1], clamped, NaN -> 0, each row of tiles laid out like
 * image_write_grid_png with `pad` black pixels around and between), with
 * labels[r] written in white to the left of row r. PNG (RGB), written
 * atomically. *label_width (may be NULL) receives the width in pixels of the
 * label column, so the grid starts at that x. */
int image_write_labelled_rows_png(const char *path, const float *imgs, int n_rows, int ncols, int rows, int cols,
                                  int pad, const char *const *labels, int *label_width, VaeError *err);

/* Per-label histograms of one latent coordinate (a zdim-1 model's code):
 * `bins` equal bins over [*lo, *hi] = [min x, max x] (widened by 0.5 on each
 * side when all values are equal; the maximum falls in the last bin);
 * share (n_classes, bins) = the fraction of each label's values in each bin
 * (each row sums to 1; 0 for a label with no value). Labels outside
 * 0..n_classes-1 are left out. Errors: n, n_classes or bins < 1, a value
 * that is not finite. */
int latent_label_histograms(const float *x, const int *labels, int n, int n_classes, int bins, double *lo,
                            double *hi, double *share, VaeError *err);

#endif
