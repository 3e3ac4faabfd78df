/* The Kozachenko-Leonenko k-nearest-neighbour entropy estimate of a sample
 * of n points in R^d (Kozachenko & Leonenko 1987; Kraskov et al. 2004):
 *   H ~ (d/n) sum_i log eps_k(i) + log V_d + psi(n) - psi(k)
 * eps_k(i) the Euclidean distance from point i to its k-th nearest other
 * point, V_d the volume of the unit d-ball, psi the digamma function. Used
 * by the entropic autoencoder's latent layer (layers_latent_bn.c). */
#ifndef VAE_ENTROPY_H
#define VAE_ENTROPY_H

#include <stddef.h>

/* floats of scratch knn_entropy needs for n points */
size_t knn_entropy_scratch_floats(int n);

/* z (n, d) row-major, 1 <= k < n. Returns H in nats. When dz is not NULL,
 * adds scale * dH/dz to dz (n, d); the neighbour choice is held fixed
 * (piecewise constant), so the gradient flows through the distances. Ties
 * between equally distant neighbours go to the lower index, so the result is
 * deterministic. A distance of zero (duplicate points) is floored at 1e-6 and
 * gets no gradient. */
double knn_entropy(const float *z, int n, int d, int k, float *dz, float scale, float *scratch);

/* digamma at a positive integer: -gamma + sum_{j<n} 1/j */
double digamma_int(int n);
/* log of the volume of the unit ball in R^d */
double log_unit_ball_volume(int d);

#endif
