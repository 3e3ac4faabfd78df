/* The latent space in bulk, for the commands that look at it: standard-normal
 * quantile grids, manifold and interpolation layouts of latent vectors, and
 * encoding/decoding of many images or latent vectors through a fixed-size
 * activation buffer (chunks), so memory does not grow with the count. */
#ifndef VAE_LATENT_H
#define VAE_LATENT_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"
#include "vae/idx.h"
#include "vae/vae.h"

/* Lowest and highest probability of a manifold grid: the Kingma & Welling and
 * Keras manifold figures space p evenly over [0.05, 0.95]. */
#define LATENT_GRID_P_LO 0.05
#define LATENT_GRID_P_HI 0.95

/* Standard normal quantile Phi^-1(p) to double precision; -inf for p = 0,
 * +inf for p = 1, NaN outside [0, 1] or for NaN. */
double latent_normal_quantile(double p);

/* q[k] = Phi^-1(p_k), p_k evenly spaced over [LATENT_GRID_P_LO, _HI],
 * k = 0..steps-1 (steps >= 2), increasing. */
void latent_quantile_grid(int steps, double *q);

/* Rows of the manifold picture of a model with latent size zdim:
 *   zdim 1: 1 (a strip of `steps` images);
 *   zdim 2: steps (a steps x steps grid);
 *   zdim > 2: one traversal per latent dimension, the first `dims` of them
 *             (dims <= 0 or dims > zdim: all zdim).
 * Every row has `steps` tiles. */
int latent_manifold_rows(int zdim, int steps, int dims);

/* Fills z (rows * steps, zdim), row-major tiles (tile r*steps + k at row r,
 * column k), rows = latent_manifold_rows(zdim, steps, dims):
 *   zdim 1: z0 = q_k;
 *   zdim 2: z0 = q_k (growing to the right), z1 = q_{steps-1-r} (the top row
 *           has the largest z1, so z1 grows upwards as on a plot);
 *   zdim > 2: z = center with z_r = center_r + q_k (center: zdim floats; not
 *           read for zdim <= 2, may be NULL there).
 * Returns VAE_ERR (with a message) on steps < 2, zdim < 1 or a missing center. */
int latent_manifold_fill(int zdim, int steps, int dims, const float *center, float *z, VaeError *err);

/* z (steps, zdim): z_k = (1 - t_k) a + t_k b, t_k = k / (steps - 1), so
 * z_0 = a and z_{steps-1} = b exactly. steps >= 2. */
void latent_interpolate(const float *a, const float *b, int zdim, int steps, float *z);

/* mu (n, Z) of images index[0..n) of im (index NULL: first..first+n-1), in
 * chunks of at most `chunk` images through one activation buffer. The caller
 * guarantees the indices are in range and the image size matches the model. */
int latent_encode_means(Vae *m, const IdxImages *im, const uint32_t *index, uint32_t first, uint32_t n,
                        int chunk, float *mu, VaeError *err);

/* imgs (n, D) in [0, 1] = decoder(z (n, Z)), in chunks of at most `chunk`
 * latent vectors through one activation buffer. */
int latent_decode(Vae *m, const float *z, size_t n, int chunk, float *imgs, VaeError *err);
/* The same for a conditional model: row i is decoded with label labels[i]
 * (labels NULL: as latent_decode). */
int latent_decode_labeled(Vae *m, const float *z, const uint8_t *labels, size_t n, int chunk, float *imgs,
                          VaeError *err);

#endif
