/* t-SNE for embedding latent means in 2-D, two ways:
 *  - exact t-SNE (van der Maaten & Hinton 2008): Gaussian affinities to every
 *    other point, calibrated to a perplexity by binary search; O(n^2) time and
 *    memory, for n up to a few thousand;
 *  - Barnes-Hut t-SNE (van der Maaten 2014): affinities to the 3*perplexity
 *    nearest neighbours only (found with a vantage-point tree), the repulsion
 *    summarised by a quadtree at accuracy theta; O(n log n) per iteration, so
 *    the 10,000 MNIST test means take seconds, not minutes.
 * Both use Student-t affinities in the map and the same gradient descent
 * (early exaggeration, momentum, per-coordinate gains), and both are
 * deterministic for a seed whatever the thread count. */
#ifndef VAE_TSNE_H
#define VAE_TSNE_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"

typedef enum {
    TSNE_AUTO = 0,      /* exact up to TSNE_EXACT_MAX_N points, Barnes-Hut above */
    TSNE_EXACT,
    TSNE_BARNES_HUT
} TsneMethod;

#define TSNE_EXACT_MAX_N 1000

typedef struct {
    double perplexity;          /* effective neighbours, 30; needs 3*perplexity < n */
    int iterations;             /* total gradient steps, 1000 */
    int exaggeration_iters;     /* P is multiplied by `exaggeration` for the first ones, 250 */
    double exaggeration;        /* 12 */
    int momentum_switch;        /* momentum_initial before this iteration, momentum_final after, 250 */
    double momentum_initial;    /* 0.5 */
    double momentum_final;      /* 0.8 */
    double learning_rate;       /* 200 */
    double min_gain;            /* 0.01 */
    uint64_t seed;              /* initial map ~ N(0, 1e-4^2 I) from the project's Rng */
    int threads;                /* worker threads for the per-point loops, >= 1 */
    TsneMethod method;          /* TSNE_AUTO */
    double theta;               /* Barnes-Hut accuracy, 0.5: a quadtree cell of side w whose centre
                                   of mass is at distance r from the point counts as one body when
                                   w / r < theta; 0 = every point visited (exact repulsion) */
    /* Called every `report_every` iterations (and after the last) with the KL
     * divergence KL(P || Q) of the un-exaggerated P (for Barnes-Hut, over the
     * sparse P, with the tree's normalisation Z); optional. */
    int report_every;           /* 0 = never */
    void (*on_report)(int iter, double kl, void *ctx);
    void *ctx;
} TsneConfig;

/* Fills the defaults above (seed 1, threads 1, auto method, theta 0.5, no reporting). */
void tsne_default_config(TsneConfig *c);

/* The method tsne_run uses for n points under c (resolves TSNE_AUTO). */
TsneMethod tsne_method_for(const TsneConfig *c, int n);

/* Embeds x (n, d) row-major into y (n, 2) row-major, caller-allocated.
 * *kl_out (may be NULL) receives the final KL(P || Q). Errors: n < 2, d < 1,
 * a perplexity out of range for n, a non-finite input, bad settings, or out
 * of memory. */
int tsne_run(const TsneConfig *c, const float *x, int n, int d, double *y, double *kl_out, VaeError *err);

/* ---- the pieces, exposed for testing ---- */

/* Exact input affinities: fills p (n, n) with the conditional affinities
 * p_{j|i} (row i sums to 1, p_{i|i} = 0), each row's Gaussian width found by
 * bisection so that 2^H(P_i) (H in bits) equals the perplexity to within 1e-5
 * in entropy. Same errors as tsne_run. */
int tsne_conditional_affinities(const float *x, int n, int d, double perplexity, int threads, float *p,
                                VaeError *err);

/* The k nearest neighbours of every point (itself excluded) by Euclidean
 * distance, through a vantage-point tree: nbr (n, k) indices and dist2 (n, k)
 * squared distances, each row ordered by (distance, index), so ties and
 * duplicate points give the same answer as a sorted brute-force search.
 * Needs 1 <= k < n. */
int tsne_knn(const float *x, int n, int d, int k, int threads, int *nbr, double *dist2, VaeError *err);

/* A sparse symmetric matrix in CSR form: row i's entries are col/val
 * [row[i], row[i + 1]), columns ascending. */
typedef struct {
    int n;
    size_t *row;        /* (n + 1) */
    int *col;           /* (row[n]) */
    double *val;        /* (row[n]) */
} TsneSparse;

/* Barnes-Hut input affinities: p_{j|i} over the K = floor(3 * perplexity)
 * nearest neighbours of i, calibrated like tsne_conditional_affinities, then
 * symmetrised p_ij = (p_{j|i} + p_{i|j}) / 2n (sums to 1). *p is allocated;
 * free it with tsne_sparse_free. Same errors as tsne_run. */
int tsne_sparse_affinities(const float *x, int n, int d, double perplexity, int threads, TsneSparse *p,
                           VaeError *err);
void tsne_sparse_free(TsneSparse *p);

/* The gradient grad (n, 2) of KL(exag * P || Q) at the map y (n, 2):
 * dC/dy_i = 4 sum_j (exag p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j).
 * Exact: P dense (n, n), symmetric, zero diagonal. */
void tsne_gradient_exact(const float *p, const double *y, int n, double exag, int threads, double *grad);
/* Barnes-Hut: P sparse; the repulsion through a quadtree at accuracy theta
 * (theta 0 gives the exact gradient for the same P). Errors: out of memory. */
int tsne_gradient_bh(const TsneSparse *p, const double *y, int n, double exag, double theta, int threads,
                     double *grad, VaeError *err);

/* KL(P || Q) of the map y (n, 2) under exact t-SNE's P for x (n, d) at this
 * perplexity: the objective both methods minimise, to compare their maps.
 * O(n^2) memory. Same errors as tsne_run. */
int tsne_kl_divergence(const float *x, int n, int d, double perplexity, const double *y, int threads, double *kl,
                       VaeError *err);

#endif
